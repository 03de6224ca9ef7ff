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

#endif
