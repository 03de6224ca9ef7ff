/* sluice — the JSON log lines of a processor (one object per line on stderr). */
#include "runtime/runtime.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int sl__log_level(const char *l)
{
    if (!strcmp(l, "debug"))
        return 0;
    if (!strcmp(l, "info"))
        return 1;
    if (!strcmp(l, "warn"))
        return 2;
    return 3;
}

void sl__vlog(const char *name, int min_level, const char *level, const char *fmt, va_list ap)
{
    if (sl__log_level(level) < min_level)
        return;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* Escape what JSON needs; messages are ours and short. */
    char esc[2100];
    size_t o = 0;
    for (const char *s = msg; *s && o < sizeof esc - 8; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            esc[o++] = '\\';
            esc[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(esc + o, sizeof esc - o, "\\u%04x", c);
        } else {
            esc[o++] = (char)c;
        }
    }
    esc[o] = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    fprintf(stderr, "{\"ts\":%lld,\"level\":\"%s\",\"processor\":\"%s\",\"msg\":\"%s\"}\n",
            (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, level, name ? name : "sluice", esc);
}
