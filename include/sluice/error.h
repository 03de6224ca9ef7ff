/* sluice — error codes.
 *
 * 0 is success, negative values are errors. One X-macro table makes the
 * enum, sl_strerror(), sl_err_name() and sl_err_is_retriable(), so the three
 * can never disagree. */
#ifndef SLUICE_ERROR_H
#define SLUICE_ERROR_H

#include "sluice/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, retriable, description) */
#define SL_ERRORS(X)                                                                               \
    X(ENOMEM, -1, 1, "out of memory")                                                              \
    X(EINVAL, -2, 0, "invalid argument")                                                           \
    X(ESTATE, -3, 0, "operation not allowed in this state")                                        \
    X(ENOENT, -4, 0, "no such entry")                                                              \
    X(ERANGE, -5, 0, "value out of range")                                                         \
    X(EAGAIN, -6, 1, "resource temporarily unavailable")                                           \
    X(ETIMEDOUT, -7, 1, "timed out")                                                               \
    X(EIO, -8, 1, "input/output error")                                                            \
    X(EEXIST, -9, 0, "already exists")                                                             \
    X(EBUSY, -10, 1, "resource busy")                                                              \
    X(EJSON, -20, 0, "invalid JSON")                                                               \
    X(EDEPTH, -21, 0, "JSON nesting too deep")                                                     \
    X(ENOTEVENT, -22, 0, "not an event: the value is not a JSON object")                           \
    X(ENOTYPE, -23, 0, "event has no string 'type'")                                               \
    X(EFIELD, -24, 0, "envelope field has the wrong type or format")                               \
    X(ETOOBIG, -25, 0, "record exceeds a size limit")                                              \
    X(ESTAGE, -30, 0, "stage could not handle the event")                                          \
    X(ERETRIES, -31, 0, "retry limit reached")                                                     \
    X(ESINK, -32, 0, "sink rejected the event")                                                    \
    X(ESHUTDOWN, -33, 0, "processor is shutting down")                                             \
    X(ESTORE, -34, 0, "view store rejected the change")                                            \
    X(ESINKDOWN, -35, 0, "sink is unusable")

/** Error codes; every public call that can fail returns 0 or one of these. */
typedef enum sl_err_e {
#define SL__ERR_ENUM(name, value, retriable, desc) SL_##name = value,
    SL_ERRORS(SL__ERR_ENUM)
#undef SL__ERR_ENUM
} sl_err_t;

/**
 * @brief Human-readable description of an error code.
 * @param err 0 or a negative sluice error code.
 * @returns A static string; never NULL ("unknown error" for unknown codes).
 * @remark Thread-safe.
 */
SL_EXPORT const char *sl_strerror(int err);

/**
 * @brief Symbolic name of an error code, e.g. "SL_EJSON".
 * @param err 0 or a negative sluice error code.
 * @returns A static string; "SL_OK" for 0, "SL_EUNKNOWN" for unknown codes.
 * @remark Thread-safe.
 */
SL_EXPORT const char *sl_err_name(int err);

/**
 * @brief Whether an operation that failed with @p err may succeed if retried.
 * @param err a negative sluice error code.
 * @returns 1 if retriable (transient), 0 if permanent or unknown.
 * @remark Thread-safe. Retries use capped full-jitter backoff; a permanent
 *         error turns the unit of work into a fault at once.
 */
SL_EXPORT int sl_err_is_retriable(int err);

/** @brief The library's version, e.g. "0.1.0" (static storage). @remark Thread-safe. */
SL_EXPORT const char *sl_version(void);

#ifdef __cplusplus
}
#endif
#endif
