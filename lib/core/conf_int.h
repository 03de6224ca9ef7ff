/* sluice — the property table's rows, for connectors that bring their own
 * (lib/core/conf.c holds the core's; a connector registers its rows at
 * library load, as a plugin carries its config map). */
#ifndef SL_CORE_CONF_INT_H
#define SL_CORE_CONF_INT_H

#include <stddef.h>
#include <stdint.h>

typedef enum { SL__P_INT, SL__P_BOOL, SL__P_STR } sl__ptype_t;

/* One property: its name, type, default (as text, parsed like a set value),
 * range (integers only, inclusive) and the description the documentation
 * prints. */
typedef struct sl__prop_s {
    const char *name;
    sl__ptype_t type;
    const char *def;
    int64_t min, max;
    const char *desc;
} sl__prop_t;

/**
 * Adds @p n rows (static storage, borrowed forever) to the property table:
 * every configuration created afterwards holds them with their defaults,
 * sl_conf_set() parses and range-checks them, and a key under @p prefix
 * (e.g. "kinesis.") that none of them names is an unknown property.
 * @returns 0, or SL_ERANGE when the table has no room left.
 * @remark Not thread-safe: call it from a library constructor, before any
 *         configuration exists.
 */
int sl__conf_register(const char *prefix, const sl__prop_t *rows, size_t n);

/**
 * Parses an http.listen value "ADDR:PORT": an IPv4 address, [IPv6],
 * localhost or * (or nothing) for every interface. Writes the numeric
 * address to @p host (at least 46 bytes) and the port (0..65535) to *@p port.
 * @returns 0, or SL_EINVAL for anything else.
 */
int sl__listen_parse(const char *s, char *host, size_t host_size, int *port);

struct sl_conf_s;

/**
 * Whether @p name was set explicitly (sl_conf_set(), not unset since): a
 * table property, or a pass-through one (kafka.*) present at all.
 * @returns 1 or 0. @remark Thread-safe on a configuration nobody changes.
 */
int sl__conf_is_set(const struct sl_conf_s *c, const char *name);

/** The parts memory.max.bytes is shared between. */
typedef enum { SL__MEM_ENGINE, SL__MEM_SOURCE } sl__mem_part_t;

/** What a record in flight costs, its value included: the engine's entry
 * and units of work, the source's message and its share of the fetch buffer
 * it keeps alive (measured with bench_flavors' memory case: the listener's
 * peak RSS fell from 68 to 46 MB at 10x input when the records in flight
 * went from 16384 to 4000). How inflight.*.records follow from the budget. */
#define SL__MEM_RECORD_BYTES 4096

/**
 * The bytes of memory.max.bytes that @p part may hold.
 * @remark Thread-safe on a configuration nobody changes.
 */
int64_t sl__mem_share(const struct sl_conf_s *c, sl__mem_part_t part);

/**
 * An engine bound (inflight.max.bytes, inflight.max.records,
 * inflight.partition.max.records): its value when set explicitly, else
 * derived from memory.max.bytes, never above the table's default nor below
 * 1 (one record is always admitted).
 * @remark Thread-safe on a configuration nobody changes.
 */
int64_t sl__mem_derived(const struct sl_conf_s *c, const char *name);

#endif
