/* libFuzzer target: the sluice envelope that carries a key and headers over
 * Kinesis (lib/kinesis/envelope.h), read by the Kinesis source from any
 * record whose data starts with its magic: bytes anyone who can write to
 * the stream controls.
 *
 * Input: the bytes after the magic (the target puts the magic first, so
 * every input reaches the parser).
 *
 * Properties: unwrapping either fails with SL_EFIELD, a terminated reason
 * and nothing to free, or succeeds with every span inside the input, the
 * value being exactly its tail, and each header name NUL-terminated in
 * place, 1..255 bytes. The layout has one way to write each envelope, so
 * wrapping what was read gives the input back byte for byte. The base64
 * check of the source agrees with the byte check, on the input with and
 * without the magic. Nothing leaks. */
#include "fuzz_common.h"
#include "kinesis/envelope.h"
#include "sluice/error.h"
#include "sluice/record.h"

#define T "fuzz_kin_envelope"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static int inside(const void *p, size_t n, const unsigned char *buf, size_t len)
{
    const unsigned char *q = p;
    return n == 0 || (q >= buf && q <= buf + len && n <= (size_t)(buf + len - q));
}

/* The base64 check of the source on @p n bytes at @p p. */
static int b64_says(const unsigned char *p, size_t n)
{
    char *b = malloc(SL_BASE64_ENCODED_SIZE(n));
    if (!b)
        fuzz_fail(T, "out of memory");
    size_t bl = sl_base64_encode(p, n, b);
    int r = sl__kenv_is_b64(b, bl);
    free(b);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t live = fuzz_live_blocks();
    size_t len = SL__KENV_MAGIC_LEN + size;
    unsigned char *buf = malloc(len);
    if (!buf)
        fuzz_fail(T, "out of memory");
    memcpy(buf, SL__KENV_MAGIC, SL__KENV_MAGIC_LEN);
    if (size)
        memcpy(buf + SL__KENV_MAGIC_LEN, data, size);

    if (!sl__kenv_is(buf, len) || !b64_says(buf, len))
        fuzz_fail(T, "an envelope's magic is not recognised");
    if (sl__kenv_is(data, size) != b64_says(data, size))
        fuzz_fail(T, "the base64 check and the byte check disagree");

    sl__kenv_t env;
    char why[256];
    why[0] = 1;
    int rc = sl__kenv_unwrap(buf, len, &env, why, sizeof why);
    if (rc == SL_EFIELD) {
        if (!memchr(why, 0, sizeof why) || !why[0] || !strstr(why, "sluice envelope"))
            fuzz_fail(T, "a refusal without a terminated reason");
        if (env.headers || env.header_count)
            fuzz_fail(T, "a refusal left headers to free");
    } else if (rc) {
        fuzz_fail(T, "unwrap failed other than SL_EFIELD");
    } else {
        if (env.key_mode != SL__KENV_KEY_PK && env.key_mode != SL__KENV_KEY_NONE &&
            env.key_mode != SL__KENV_KEY_INLINE)
            fuzz_fail(T, "an unknown key mode accepted");
        if (env.key_mode == SL__KENV_KEY_INLINE && !inside(env.key, env.key_len, buf, len))
            fuzz_fail(T, "the key is outside the input");
        if (env.header_count > SL__KENV_MAX_HEADERS)
            fuzz_fail(T, "more headers than the limit");
        for (size_t i = 0; i < env.header_count; i++) {
            const sl_header_t *h = &env.headers[i];
            size_t nl = strnlen(h->name, 256);
            if (!inside(h->name, nl + 1, buf, len) || nl == 0 || nl > 255)
                fuzz_fail(T, "a header name outside the input, empty or over 255 bytes");
            if (!inside(h->value, h->value_len, buf, len))
                fuzz_fail(T, "a header value outside the input");
        }
        if (env.value_len && (env.value + env.value_len != buf + len))
            fuzz_fail(T, "the value is not the input's tail");
        if (!env.value_len && env.value && env.value != buf + len)
            fuzz_fail(T, "an empty value not at the input's end");

        unsigned char *out = NULL;
        size_t out_len = 0;
        if (sl__kenv_wrap(env.key_mode, env.key, env.key_len, env.headers, env.header_count,
                          env.value, env.value_len, &out, &out_len))
            fuzz_fail(T, "what was read cannot be written again");
        if (out_len != len || memcmp(out, buf, len))
            fuzz_fail(T, "writing what was read does not give the input back");
        sl_free(out);
        sl_free(env.headers);
    }
    free(buf);
    if (fuzz_live_blocks() != live)
        fuzz_fail(T, "an input leaked library memory");
    return 0;
}
