/* The sluice record envelope over Kinesis (lib/kinesis/envelope.c): what
 * sluice-faults resubmit writes and the Kinesis source unwraps. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/util.h"
#include "kinesis/envelope.h"
#include "sluice/error.h"
#include "sluice/mem.h"

static const unsigned char binval[] = {0x00, 0xff, 0x10, 0x00, 0x80, '{', 0x1e, 0x01, 0x00};

Test(kin_envelope, a_binary_value_headers_and_key_come_back_byte_for_byte)
{
    const unsigned char hv[] = {0x00, 0x01, 0xfe};
    sl_header_t h[3] = {
        {"sluice.resubmit.pipeline", "pricing", 7}, {"bin", hv, sizeof hv}, {"empty", NULL, 0}};
    const unsigned char key[] = {'k', 0x00, 0x7f};
    for (int mode = SL__KENV_KEY_PK; mode <= SL__KENV_KEY_INLINE; mode++) {
        unsigned char *buf;
        size_t len;
        cr_assert_eq(sl__kenv_wrap(mode, key, sizeof key, h, 3, binval, sizeof binval, &buf, &len),
                     0);
        cr_assert(sl__kenv_is(buf, len));
        /* The source recognises it on the base64 Data, before decoding. */
        char *b64 = sl_malloc((len + 2) / 3 * 4 + 1);
        size_t bl = sl_base64_encode(buf, len, b64);
        cr_assert(sl__kenv_is_b64(b64, bl), "%s", b64);
        sl_free(b64);
        sl__kenv_t e;
        char why[160];
        cr_assert_eq(sl__kenv_unwrap(buf, len, &e, why, sizeof why), 0, "%s", why);
        cr_assert_eq(e.key_mode, mode);
        if (mode == SL__KENV_KEY_INLINE) {
            cr_assert_eq(e.key_len, sizeof key);
            cr_assert_arr_eq(e.key, key, sizeof key);
        }
        cr_assert_eq(e.header_count, 3);
        for (size_t i = 0; i < 3; i++) {
            cr_assert_str_eq(e.headers[i].name, h[i].name);
            cr_assert_eq(e.headers[i].value_len, h[i].value_len);
            if (h[i].value_len)
                cr_assert_arr_eq(e.headers[i].value, h[i].value, h[i].value_len);
        }
        cr_assert_eq(e.value_len, sizeof binval);
        cr_assert_arr_eq(e.value, binval, sizeof binval);
        sl_free(e.headers);
        sl_free(buf);
    }
}

Test(kin_envelope, no_headers_and_an_empty_value)
{
    unsigned char *buf;
    size_t len;
    cr_assert_eq(sl__kenv_wrap(SL__KENV_KEY_NONE, NULL, 0, NULL, 0, NULL, 0, &buf, &len), 0);
    cr_assert_eq(len, SL__KENV_MAGIC_LEN + 3);
    sl__kenv_t e;
    char why[160];
    cr_assert_eq(sl__kenv_unwrap(buf, len, &e, why, sizeof why), 0, "%s", why);
    cr_assert_eq(e.key_mode, SL__KENV_KEY_NONE);
    cr_assert_null(e.headers);
    cr_assert_eq(e.header_count, 0);
    cr_assert_eq(e.value_len, 0);
    sl_free(buf);
}

/* Every cut of a valid envelope, and broken fields: SL_EFIELD with a reason,
 * nothing to free, never a read past the end (ASan). */
Test(kin_envelope, a_malformed_envelope_is_an_error_with_a_reason)
{
    sl_header_t h[2] = {{"sluice.resubmit.fault", "fault-0123", 10}, {"x", "y", 1}};
    unsigned char *buf;
    size_t len;
    cr_assert_eq(sl__kenv_wrap(SL__KENV_KEY_INLINE, "kk", 2, h, 2, "v", 1, &buf, &len), 0);
    sl__kenv_t e;
    char why[160];
    /* The value is everything after the headers: a cut inside the headers
     * (or the key) is malformed; a cut in the value is a shorter value. */
    size_t value_at = len - 1;
    for (size_t cut = SL__KENV_MAGIC_LEN; cut < value_at; cut++) {
        unsigned char *c = sl_malloc(cut ? cut : 1);
        memcpy(c, buf, cut);
        why[0] = 0;
        cr_assert_eq(sl__kenv_unwrap(c, cut, &e, why, sizeof why), SL_EFIELD, "cut %zu", cut);
        cr_assert(why[0] && strstr(why, "envelope"), "cut %zu: %s", cut, why);
        cr_assert_null(e.headers);
        sl_free(c);
    }
    /* An unknown key mode. */
    buf[SL__KENV_MAGIC_LEN] = 7;
    cr_assert_eq(sl__kenv_unwrap(buf, len, &e, why, sizeof why), SL_EFIELD);
    cr_assert(strstr(why, "key mode"), "%s", why);
    buf[SL__KENV_MAGIC_LEN] = SL__KENV_KEY_INLINE;
    /* A key length past the end. */
    buf[SL__KENV_MAGIC_LEN + 1] = 0x7f;
    cr_assert_eq(sl__kenv_unwrap(buf, len, &e, why, sizeof why), SL_EFIELD);
    buf[SL__KENV_MAGIC_LEN + 1] = 0;
    /* An empty header name. */
    size_t name_at = SL__KENV_MAGIC_LEN + 1 + 4 + 2 + 2;
    unsigned char keep = buf[name_at];
    buf[name_at] = 0;
    cr_assert_eq(sl__kenv_unwrap(buf, len, &e, why, sizeof why), SL_EFIELD);
    cr_assert(strstr(why, "empty name"), "%s", why);
    buf[name_at] = keep;
    /* A header value length past the end. */
    size_t vlen_at = name_at + strlen(h[0].name) + 1;
    buf[vlen_at] = 0x10;
    cr_assert_eq(sl__kenv_unwrap(buf, len, &e, why, sizeof why), SL_EFIELD);
    cr_assert(strstr(why, "value length"), "%s", why);
    buf[vlen_at] = 0;
    /* Too many headers. */
    buf[SL__KENV_MAGIC_LEN + 1 + 4 + 2] = 0xff;
    cr_assert_eq(sl__kenv_unwrap(buf, len, &e, why, sizeof why), SL_EFIELD);
    buf[SL__KENV_MAGIC_LEN + 1 + 4 + 2] = 0;
    /* Restored, it reads again. */
    cr_assert_eq(sl__kenv_unwrap(buf, len, &e, why, sizeof why), 0, "%s", why);
    sl_free(e.headers);
    /* Another version is not this envelope. */
    buf[SL__KENV_MAGIC_LEN - 1] = 2;
    cr_assert_not(sl__kenv_is(buf, len));
    cr_assert_eq(sl__kenv_unwrap(buf, len, &e, why, sizeof why), SL_EFIELD);
    sl_free(buf);
    /* A header name of 256 bytes cannot be written (nor read). */
    char big[257];
    memset(big, 'n', 256);
    big[256] = 0;
    sl_header_t hb = {big, "", 0};
    cr_assert_eq(sl__kenv_wrap(SL__KENV_KEY_PK, NULL, 0, &hb, 1, NULL, 0, &buf, &len), SL_EINVAL);
    cr_assert_null(buf);
}

Test(kin_envelope, ordinary_data_is_not_an_envelope)
{
    const char *plain[] = {"eyJpZCI6MX0=", "AAAA", "AHNsdWljZR4C", "AHNsdWljZR4", ""};
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
        cr_assert_not(sl__kenv_is_b64(plain[i], strlen(plain[i])), "%s", plain[i]);
    cr_assert_not(sl__kenv_is(binval, sizeof binval));
    cr_assert(sl__kenv_pk_ok("o-1", 3));
    cr_assert_not(sl__kenv_pk_ok("", 0));
    cr_assert_not(sl__kenv_pk_ok("a\0b", 3));
    char k257[257];
    memset(k257, 'k', sizeof k257);
    cr_assert_not(sl__kenv_pk_ok(k257, 257));
    cr_assert(sl__kenv_pk_ok(k257, 256));
}
