/* sluice — the Kinesis record envelope: a key and headers with a value
 * (layout in envelope.h). */
#include "kinesis/envelope.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int sl__kenv_is(const void *p, size_t len)
{
    return len >= SL__KENV_MAGIC_LEN && !memcmp(p, SL__KENV_MAGIC, SL__KENV_MAGIC_LEN);
}

int sl__kenv_pk_ok(const void *key, size_t len)
{
    const unsigned char *k = key;
    if (!k || len < 1 || len > 256)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (k[i] < 0x20 || k[i] > 0x7e)
            return 0;
    return 1;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static unsigned char *put32(unsigned char *p, size_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
    return p + 4;
}

int sl__kenv_unwrap(const void *data, size_t len, sl__kenv_t *out, char *why, size_t why_size)
{
    const unsigned char *p = data, *end = p + len;
    memset(out, 0, sizeof *out);
    if (!sl__kenv_is(data, len)) {
        snprintf(why, why_size, "not a sluice envelope (no magic)");
        return SL_EFIELD;
    }
    p += SL__KENV_MAGIC_LEN;
    if (end - p < 3) {
        snprintf(why, why_size, "sluice envelope cut short after the magic");
        return SL_EFIELD;
    }
    int mode = *p++;
    if (mode == SL__KENV_KEY_INLINE) {
        if (end - p < 4 || (size_t)(end - p - 4) < be32(p)) {
            snprintf(why, why_size, "sluice envelope: the key's length is past the end");
            return SL_EFIELD;
        }
        out->key_len = be32(p);
        out->key = p + 4;
        p += 4 + out->key_len;
    } else if (mode != SL__KENV_KEY_PK && mode != SL__KENV_KEY_NONE) {
        snprintf(why, why_size, "sluice envelope: unknown key mode %d", mode);
        return SL_EFIELD;
    }
    out->key_mode = mode;
    if (end - p < 2) {
        snprintf(why, why_size, "sluice envelope cut short before the header count");
        return SL_EFIELD;
    }
    size_t nh = (size_t)p[0] << 8 | p[1];
    p += 2;
    if (nh > SL__KENV_MAX_HEADERS) {
        snprintf(why, why_size, "sluice envelope: %zu headers, more than %d", nh,
                 SL__KENV_MAX_HEADERS);
        return SL_EFIELD;
    }
    sl_header_t *h = nh ? sl_calloc(nh, sizeof *h) : NULL;
    if (nh && !h)
        return SL_ENOMEM;
    for (size_t i = 0; i < nh; i++) {
        size_t room = (size_t)(end - p);
        const unsigned char *nul = memchr(p, 0, room < 256 ? room : 256);
        if (!nul || nul == p) {
            snprintf(why, why_size, "sluice envelope: header %zu: %s", i,
                     nul ? "empty name" : "name unterminated or over 255 bytes");
            goto bad;
        }
        const unsigned char *v = nul + 1;
        if (end - v < 4 || (size_t)(end - v - 4) < be32(v)) {
            snprintf(why, why_size, "sluice envelope: header %zu: value length past the end", i);
            goto bad;
        }
        h[i] = (sl_header_t){(const char *)p, v + 4, be32(v)};
        p = v + 4 + be32(v);
    }
    out->headers = h;
    out->header_count = nh;
    out->value = p;
    out->value_len = (size_t)(end - p);
    return 0;
bad:
    sl_free(h);
    memset(out, 0, sizeof *out);
    return SL_EFIELD;
}

int sl__kenv_wrap(int key_mode, const void *key, size_t key_len, const sl_header_t *headers,
                  size_t nh, const void *value, size_t value_len, unsigned char **out,
                  size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (key_mode < SL__KENV_KEY_PK || key_mode > SL__KENV_KEY_INLINE || nh > SL__KENV_MAX_HEADERS ||
        (nh && !headers) || (value_len && !value) || (key_len && !key))
        return SL_EINVAL;
    size_t n = SL__KENV_MAGIC_LEN + 1 + 2 + value_len;
    if (key_mode == SL__KENV_KEY_INLINE) {
        if (key_len > UINT32_MAX)
            return SL_EINVAL;
        n += 4 + key_len;
    }
    for (size_t i = 0; i < nh; i++) {
        size_t nl = headers[i].name ? strlen(headers[i].name) : 0;
        if (!nl || nl > 255 || headers[i].value_len > UINT32_MAX ||
            (headers[i].value_len && !headers[i].value))
            return SL_EINVAL;
        n += nl + 1 + 4 + headers[i].value_len;
    }
    unsigned char *b = sl_malloc(n ? n : 1), *p = b;
    if (!b)
        return SL_ENOMEM;
    memcpy(p, SL__KENV_MAGIC, SL__KENV_MAGIC_LEN);
    p += SL__KENV_MAGIC_LEN;
    *p++ = (unsigned char)key_mode;
    if (key_mode == SL__KENV_KEY_INLINE) {
        p = put32(p, key_len);
        if (key_len)
            memcpy(p, key, key_len);
        p += key_len;
    }
    *p++ = (unsigned char)(nh >> 8);
    *p++ = (unsigned char)nh;
    for (size_t i = 0; i < nh; i++) {
        size_t nl = strlen(headers[i].name);
        memcpy(p, headers[i].name, nl + 1);
        p = put32(p + nl + 1, headers[i].value_len);
        if (headers[i].value_len)
            memcpy(p, headers[i].value, headers[i].value_len);
        p += headers[i].value_len;
    }
    if (value_len)
        memcpy(p, value, value_len);
    *out = b;
    *out_len = n;
    return 0;
}
