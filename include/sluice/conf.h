/* sluice — configuration.
 *
 * String key/value properties, as in librdkafka, backed by one table that
 * validates, holds defaults and documents each property. Unknown keys are an
 * error. Keys with a pass-through prefix ("kafka.") are kept verbatim for the
 * connector that owns them. */
#ifndef SLUICE_CONF_H
#define SLUICE_CONF_H

#include "sluice/export.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_conf_s sl_conf_t;

/**
 * @brief New configuration holding every property's default.
 * @returns A configuration owned by the caller (sl_conf_destroy()), or NULL
 *          when out of memory.
 * @remark Thread-safe; the object itself is not (use one per thread).
 */
SL_EXPORT sl_conf_t *sl_conf_new(void);

/**
 * @brief Deep copy of @p conf.
 * @returns A new configuration owned by the caller, or NULL when out of memory.
 * @remark Safe to call concurrently with other readers of @p conf.
 */
SL_EXPORT sl_conf_t *sl_conf_dup(const sl_conf_t *conf);

/** @brief Free a configuration; NULL is accepted. */
SL_EXPORT void sl_conf_destroy(sl_conf_t *conf);

/**
 * @brief Set property @p name to @p value (parsed and range-checked).
 * @param errstr buffer for a message on failure; may be NULL.
 * @returns 0; SL_ENOENT for an unknown name; SL_EINVAL for a value that
 *          does not parse; SL_ERANGE for one out of range; SL_ENOMEM.
 *          On failure the property keeps its previous value.
 * @remark Not thread-safe for the same @p conf.
 */
SL_EXPORT int sl_conf_set(sl_conf_t *conf, const char *name, const char *value, char *errstr,
                          size_t errstr_size);

/**
 * @brief Undo sl_conf_set() for @p name: a table property takes its default
 *        again; a pass-through property ("kafka.linger.ms") is removed, so
 *        the connector's own default applies (the others keep their order).
 * @param errstr buffer for a message on failure; may be NULL.
 * @returns 0 (also for a pass-through property that was not set); SL_ENOENT
 *          for an unknown name; SL_EINVAL for a NULL @p conf or @p name;
 *          SL_ENOMEM (the property keeps its value).
 * @remark Not thread-safe for the same @p conf.
 */
SL_EXPORT int sl_conf_unset(sl_conf_t *conf, const char *name, char *errstr, size_t errstr_size);

/**
 * @brief Read a property as text.
 * @param buf receives the NUL-terminated value; may be NULL to ask the size.
 * @param size in: size of @p buf; out: bytes needed including the NUL.
 * @returns 0, SL_ENOENT for an unknown name, SL_ERANGE if @p buf is too small
 *          (then @p size tells what is needed).
 */
SL_EXPORT int sl_conf_get(const sl_conf_t *conf, const char *name, char *buf, size_t *size);

/**
 * @brief Read an integer (or boolean, as 0/1) property.
 * @returns The value; 0 for an unknown or non-integer name.
 */
SL_EXPORT int64_t sl_conf_get_int(const sl_conf_t *conf, const char *name);

/**
 * @brief Read a string property.
 * @returns A pointer owned by @p conf, valid until it changes; NULL for an
 *          unknown or non-string name.
 */
SL_EXPORT const char *sl_conf_get_str(const sl_conf_t *conf, const char *name);

/**
 * @brief Read a pass-through property (e.g. "kafka.bootstrap.servers").
 * @returns A pointer owned by @p conf, valid until it changes; NULL if unset.
 */
SL_EXPORT const char *sl_conf_get_str_pt(const sl_conf_t *conf, const char *name);

/**
 * @brief Call @p cb for every pass-through property whose name starts with
 *        @p prefix, in the order they were set, with the prefix stripped.
 * @returns 0, or the first non-zero value returned by @p cb (which stops the walk).
 */
SL_EXPORT int sl_conf_foreach(const sl_conf_t *conf, const char *prefix,
                              int (*cb)(const char *name, const char *value, void *opaque),
                              void *opaque);

/**
 * @brief Print the property table (name, type, default, range, description)
 *        as a Markdown table to @p fp.
 */
SL_EXPORT void sl_conf_properties_print(FILE *fp);

#ifdef __cplusplus
}
#endif
#endif
