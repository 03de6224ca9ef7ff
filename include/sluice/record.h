/* sluice — records and envelopes.
 *
 * A record is one message as the stream delivered it. The envelope is what
 * the strict scanner reads from it without building a JSON tree: spans into
 * the record's bytes, enough to filter, key, group and batch. */
#ifndef SLUICE_RECORD_H
#define SLUICE_RECORD_H

#include "sluice/export.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** One record header (Kafka header, Kinesis has none). Borrowed bytes. */
typedef struct sl_header_s {
    const char *name;  /**< NUL-terminated header name */
    const void *value; /**< value bytes, may be NULL when value_len is 0 */
    size_t value_len;
} sl_header_t;

/**
 * One record as its source delivered it. Every pointer is borrowed from the
 * source, which keeps them valid until the engine reports the record done.
 */
typedef struct sl_record_s {
    const char *topic;    /**< topic or stream name, NUL-terminated */
    int32_t partition;    /**< partition, or shard index */
    int64_t offset;       /**< offset or sequence position, strictly increasing per partition */
    int64_t timestamp_ms; /**< broker/producer timestamp, or 0 */
    const void *key;      /**< may be NULL */
    size_t key_len;
    const void *value; /**< may be NULL */
    size_t value_len;
    const sl_header_t *headers; /**< may be NULL */
    size_t header_count;
    const char *position; /**< optional textual position (Kinesis sequence number), or NULL */
    void *opaque;         /**< the source's own handle, untouched by sluice */
} sl_record_t;

/** A slice of bytes inside a record; not NUL-terminated. */
typedef struct sl_span_s {
    const char *ptr;
    size_t len;
} sl_span_t;

/** Envelope flags: which fields were found, and which need unescaping. */
enum {
    SL_ENV_TYPE = 1u << 0,        /**< type found (always set on success) */
    SL_ENV_ID = 1u << 1,          /**< id found */
    SL_ENV_PKEY = 1u << 2,        /**< partitionKey (or CloudEvents partitionkey) found */
    SL_ENV_TIMESTAMP = 1u << 3,   /**< timestamp (or CloudEvents time) found */
    SL_ENV_CLOUDEVENTS = 1u << 4, /**< specversion found, or read from ce_* headers */
    SL_ENV_BINARY = 1u << 5,      /**< CloudEvents binary mode: fields from headers */
    SL_ENV_TYPE_ESC = 1u << 8,    /**< the type span holds JSON escapes */
    SL_ENV_ID_ESC = 1u << 9,      /**< the id span holds JSON escapes */
    SL_ENV_PKEY_ESC = 1u << 10    /**< the partitionKey span holds JSON escapes */
};

/**
 * The routing part of an event. String spans point between the quotes of the
 * JSON string in the record (still escaped if the matching *_ESC flag is set),
 * or into header values in binary mode.
 */
typedef struct sl_envelope_s {
    sl_span_t type;
    sl_span_t id;
    sl_span_t partition_key;
    int64_t timestamp; /**< epoch milliseconds, 0 when absent */
    unsigned flags;    /**< SL_ENV_* bits */
} sl_envelope_t;

/** Where and why a scan failed; reason is a static string. */
typedef struct sl_scan_error_s {
    size_t offset;
    const char *reason;
} sl_scan_error_t;

/** The deepest nesting the scanner (like jansson) accepts. */
#define SL_JSON_MAX_DEPTH 2048

/**
 * @brief Check that @p buf is a JSON text jansson's json_loadb(buf, len, 0)
 *        would accept: an object or array, strict UTF-8, no control characters
 *        in strings, no \u0000, integers within int64, finite reals, depth at
 *        most SL_JSON_MAX_DEPTH (counted as jansson does: every value, scalars
 *        included, keys not), nothing after the value but whitespace. Like
 *        jansson, a single NUL byte right after a number or a literal is
 *        ignored; the differential tests and the fuzz target hold the two to
 *        the same verdict.
 * @param err optional; filled on failure.
 * @returns 0, SL_EJSON, or SL_EDEPTH.
 * @remark Allocates nothing. Thread-safe.
 */
SL_EXPORT int sl_json_validate(const void *buf, size_t len, sl_scan_error_t *err);

/**
 * @brief Validate a JSON event and read its envelope in one pass.
 *
 * Reads the top-level members "type", "id", "partitionKey", "timestamp"
 * (integer ms, a real truncated to ms, or an RFC 3339 string), and the
 * CloudEvents structured members "specversion", "time" (RFC 3339) and
 * "partitionkey", used when the aws-lambda-stream names are absent. When a
 * member repeats, the last one wins, as in jansson's tree.
 *
 * A real timestamp outside int64 is SL_EFIELD. A bad "time" or
 * "partitionkey" counts only when it is used (no "timestamp" or
 * "partitionKey" present).
 *
 * @param env filled on success, zeroed on failure.
 * @param err optional; filled on failure: offset of the offending value (0
 *        when type is missing) and a static reason.
 * @returns 0; SL_EJSON or SL_EDEPTH if jansson would reject the text;
 *          SL_ENOTEVENT if it is valid JSON but not an object; SL_ENOTYPE if
 *          "type" is missing, not a string or empty; SL_EFIELD if "id" or
 *          "partitionKey" is not a string or "timestamp" is not a number or an
 *          RFC 3339 string.
 * @remark Allocates nothing; spans borrow from @p buf. Thread-safe.
 */
SL_EXPORT int sl_envelope_scan(const void *buf, size_t len, sl_envelope_t *env,
                               sl_scan_error_t *err);

/**
 * @brief Read a CloudEvents binary-mode envelope from ce_* headers
 *        (ce_type, ce_id, ce_partitionkey, ce_time, ce_specversion; exact
 *        lower-case names, the last of a repeated header wins; no *_ESC flag
 *        is ever set).
 * @returns 1 if the headers carry ce_type (binary mode, @p env filled),
 *          0 if they are not CloudEvents binary mode, SL_EFIELD if ce_time
 *          is not RFC 3339 or ce_type is empty.
 * @remark Allocates nothing; spans borrow from the header values. Thread-safe.
 */
SL_EXPORT int sl_envelope_from_headers(const sl_header_t *headers, size_t count,
                                       sl_envelope_t *env);

/**
 * @brief Decode the JSON escapes of a string span.
 * @param out buffer of @p cap bytes; the result is not NUL-terminated.
 * @param out_len set to the decoded length, which never exceeds @p s.len.
 * @returns 0, SL_ERANGE if @p cap is too small, SL_EJSON on a bad escape
 *          (\u0000 included, as jansson rejects it), SL_EINVAL if s.ptr is
 *          NULL with a non-zero length.
 * @remark Allocates nothing. Thread-safe.
 */
SL_EXPORT int sl_span_unescape(sl_span_t s, char *out, size_t cap, size_t *out_len);

/**
 * @brief Parse an RFC 3339 date-time ("2026-11-27T05:06:31.123Z",
 *        offsets allowed; 't', 'z' and a space separator accepted; second 60
 *        rolls into the next minute) to epoch milliseconds.
 * @param out_ms may be NULL to only validate.
 * @returns 0, or SL_EFIELD if the text is not RFC 3339.
 * @remark Thread-safe.
 */
SL_EXPORT int sl_rfc3339_parse(const char *s, size_t len, int64_t *out_ms);

/** Bytes sl_base64_encode() writes for @p n input bytes, its NUL included. */
#define SL_BASE64_ENCODED_SIZE(n) (((n) + 2) / 3 * 4 + 1)

/**
 * @brief Encode [in, in + n) as standard base64 with padding (RFC 4648
 *        section 4), the form of the bytes of a fault event (key, value,
 *        header values) and of a Kinesis record's Data.
 * @param out room for SL_BASE64_ENCODED_SIZE(n) bytes, owned by the caller;
 *        the result is NUL-terminated.
 * @returns the length of the text, without the NUL. It cannot fail.
 * @remark Allocates nothing. Thread-safe.
 */
SL_EXPORT size_t sl_base64_encode(const void *in, size_t n, char *out);

/**
 * @brief Decode standard padded base64 [in, in + n) (no whitespace, no
 *        URL-safe alphabet).
 * @param out room for n / 4 * 3 bytes, owned by the caller; the result is
 *        not NUL-terminated. On error its content is unspecified.
 * @param out_len set to the decoded length on success.
 * @returns 0, or SL_EFIELD if the text is not standard padded base64 (a
 *          length not a multiple of 4, a character outside the alphabet,
 *          padding before the last four characters, "x=y" padding).
 * @remark Allocates nothing. Thread-safe.
 */
SL_EXPORT int sl_base64_decode(const char *in, size_t n, void *out, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
