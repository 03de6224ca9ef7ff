/* sluice — the record envelope that carries a key and headers over Kinesis
 * (private to lib/kinesis).
 *
 * A Kinesis record has a partition key and data, nothing else: no headers,
 * and a partition key is 1..256 characters, so an empty, absent or binary
 * key cannot be one. `sluice-faults resubmit` must send a record with its
 * original key, value and headers plus the sluice.resubmit.* headers that
 * route it (the engine's pipeline-header rule). It writes this envelope as
 * the record's data, and the Kinesis source unwraps it into the original
 * record with those headers, so pipelines see exactly the original record.
 *
 * The layout (integers big-endian):
 *
 *   magic    9 bytes  00 73 6C 75 69 63 65 1E 01  ("\0sluice", RS, version 1)
 *   keymode  1 byte   0: the key is the record's PartitionKey
 *                     1: no key (NULL)
 *                     2: the key follows: u32 length, then its bytes
 *   count    u16      number of headers, at most SL__KENV_MAX_HEADERS
 *   header   count times: name (1..255 bytes, no NUL), a 00 byte,
 *            u32 value length, the value bytes
 *   value    every byte after the last header, as it was (binary-safe)
 *
 * Binary rather than JSON: the value is carried byte for byte without a
 * base64 inflation (a value near Kinesis's 1 MiB limit still fits), and the
 * header names are NUL-terminated in place, so unwrapping allocates only
 * the array of header descriptors. The magic starts with a NUL byte, which
 * no JSON or text record does; its 9 bytes are 12 base64 characters, so the
 * source recognises an envelope on the Data string of GetRecords before
 * decoding it: one failed first-character compare for an ordinary record. */
#ifndef SL_KINESIS_ENVELOPE_H
#define SL_KINESIS_ENVELOPE_H

#include <stddef.h>

#include "sluice/record.h"

#define SL__KENV_MAGIC "\0sluice\x1e\x01"
#define SL__KENV_MAGIC_LEN 9
#define SL__KENV_MAGIC_B64 "AHNsdWljZR4B" /* base64 of the magic */
#define SL__KENV_MAGIC_B64_LEN 12
#define SL__KENV_MAX_HEADERS 1024

enum { SL__KENV_KEY_PK = 0, SL__KENV_KEY_NONE = 1, SL__KENV_KEY_INLINE = 2 };

/* An unwrapped envelope. Every pointer but @p headers points into the data
 * it was read from (which must outlive it); @p headers is allocated with
 * sl_malloc (NULL when there are none) and freed by the caller. */
typedef struct sl__kenv_s {
    int key_mode;             /* SL__KENV_KEY_* */
    const unsigned char *key; /* key_mode INLINE: the key (key_len bytes) */
    size_t key_len;
    sl_header_t *headers;
    size_t header_count;
    const unsigned char *value;
    size_t value_len;
} sl__kenv_t;

/* Whether the base64 Data string [b64, b64 + len) of a GetRecords entry
 * starts with the envelope's magic. Cheap: meant for every record. */
static inline int sl__kenv_is_b64(const char *b64, size_t len)
{
    if (len < SL__KENV_MAGIC_B64_LEN || b64[0] != 'A')
        return 0;
    for (size_t i = 1; i < SL__KENV_MAGIC_B64_LEN; i++)
        if (b64[i] != SL__KENV_MAGIC_B64[i])
            return 0;
    return 1;
}

/* Whether decoded data [p, p + len) starts with the magic. */
int sl__kenv_is(const void *p, size_t len);

/* Whether @p key can be a Kinesis partition key as it is (and so travel as
 * one, keymode 0): 1..256 bytes of printable ASCII. */
int sl__kenv_pk_ok(const void *key, size_t len);

/* Reads the envelope [data, data + len) (which starts with the magic) into
 * @p out. Returns 0; SL_EFIELD when it is malformed (a length past the end,
 * an unknown keymode or version, a header name empty, too long or
 * unterminated, too many headers), with the reason in @p why (*out then
 * holds nothing to free); SL_ENOMEM. Thread-safe. */
int sl__kenv_unwrap(const void *data, size_t len, sl__kenv_t *out, char *why, size_t why_size);

/* Writes an envelope of the key (by @p key_mode; @p key used for INLINE),
 * the @p nh headers and the value into a new buffer *@p out (sl_malloc,
 * *@p out_len bytes; the caller frees it with sl_free). Returns 0; SL_EINVAL
 * for a header name empty, over 255 bytes or holding a NUL, more than
 * SL__KENV_MAX_HEADERS headers, a key or header value over 4 GiB or a bad
 * key mode; SL_ENOMEM. Thread-safe. */
int sl__kenv_wrap(int key_mode, const void *key, size_t key_len, const sl_header_t *headers,
                  size_t nh, const void *value, size_t value_len, unsigned char **out,
                  size_t *out_len);

#endif
