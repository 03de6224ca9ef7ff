/* Helpers every test suite may use: a monotonic clock, a sleep, and a
 * base64 decoder of the tests' own (so a fault event's bytes are checked
 * with code independent of the library's encoder). */
#ifndef SL_TEST_UTIL_H
#define SL_TEST_UTIL_H

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sluice/sluice.h"

static inline int64_t tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void tu_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Decodes base64 @p in (up to its padding) into @p out, which holds
 * strlen(in) / 4 * 3 + 3 bytes; a character outside the alphabet fails the
 * test. Returns the decoded length. */
static inline size_t tu_b64dec(const char *in, unsigned char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = 0;
    unsigned v = 0;
    int bits = 0;
    for (; *in && *in != '='; in++) {
        const char *p = strchr(tab, *in);
        cr_assert(p, "base64 alphabet");
        v = (v << 6) | (unsigned)(p - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(v >> bits);
        }
    }
    return n;
}

/* A processor configured with the pairs of @p kv, then of @p extra (key,
 * value, ..., NULL; either may be NULL); every setting and the processor
 * must be accepted. The caller destroys it. */
static inline sl_processor_t *tu_processor(const char *const *kv, const char *const *extra)
{
    char err[512];
    sl_conf_t *c = sl_conf_new();
    cr_assert(c);
    for (const char *const *l = kv; l; l = l == kv ? extra : NULL)
        for (size_t i = 0; l[i]; i += 2)
            cr_assert_eq(sl_conf_set(c, l[i], l[i + 1], err, sizeof err), 0, "%s", err);
    sl_processor_t *p = sl_processor_new(c, err, sizeof err);
    sl_conf_destroy(c);
    cr_assert(p, "%s", err);
    return p;
}

/* The text of file @p path (calloc'd, NUL-terminated; the caller frees it),
 * or an empty string when it cannot be read. */
static inline char *tu_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
    cr_assert(s);
    if (n > 0 && fread(s, 1, (size_t)n, f) != (size_t)n)
        s[0] = 0;
    fclose(f);
    return s;
}

/* Creates an empty temporary file from the mkstemp() template @p tmpl
 * (its name is left in @p tmpl). */
static inline void tu_mkstemp(char *tmpl)
{
    int fd = mkstemp(tmpl);
    cr_assert_geq(fd, 0, "mkstemp %s", tmpl);
    close(fd);
}

/* Creates a fresh directory "/tmp/PREFIX-XXXXXX" (mkdtemp) in @p dir, a
 * buffer of @p size bytes; fails the test when it cannot. */
static inline void tu_mkdtemp(char *dir, size_t size, const char *prefix)
{
    snprintf(dir, size, "/tmp/%s-XXXXXX", prefix);
    cr_assert(mkdtemp(dir), "mkdtemp %s: %s", dir, strerror(errno));
}

/* Removes @p dir and everything below it (rm -rf). Returns system()'s
 * status: 0 once it is gone. */
static inline int tu_rmtree(const char *dir)
{
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

/* The files of a run of the service binaries in directory @p dir: the
 * trigger's and the listener's logs, the view database, and the listener's
 * --view of it (of its table @p table; NULL: the default table). */
typedef struct tu_files_s {
    char tlog[300], llog[300], db[300], view[340];
} tu_files_t;

static inline void tu_files(tu_files_t *f, const char *dir, const char *table)
{
    snprintf(f->tlog, sizeof f->tlog, "%s/trigger.log", dir);
    snprintf(f->llog, sizeof f->llog, "%s/listener.log", dir);
    snprintf(f->db, sizeof f->db, "%s/view.db", dir);
    snprintf(f->view, sizeof f->view, "sqlite:%s%s%s", f->db, table ? "#" : "", table ? table : "");
}

/* Starts argv[0] (a path) with @p argv and the environment @p envp, its
 * stdout and stderr to the file @p log (created or truncated). */
static inline pid_t tu_spawn(char *const argv[], const char *log, char *const envp[])
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, argv[0], &fa, NULL, argv, envp), 0, "spawn %s", argv[0]);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

/* A child process's command line: argv[0] @p bin, then the words of
 * @p words (split at spaces), each "%s" in a word replaced by the next
 * argument (a string); NULL-terminated, in @p c. Returns c->argv. */
typedef struct tu_cmd_s {
    char buf[4096];
    char *argv[64];
} tu_cmd_t;

static inline char **tu_cmd(tu_cmd_t *c, const char *bin, const char *words, ...)
{
    va_list ap;
    va_start(ap, words);
    size_t n = 0, o = 0;
    c->argv[n++] = (char *)bin;
    for (const char *w = words; *w;) {
        cr_assert(n < sizeof c->argv / sizeof c->argv[0] - 1, "tu_cmd: too many words");
        c->argv[n++] = c->buf + o;
        for (; *w && *w != ' '; w++) {
            const char *a = w;
            size_t len = 1;
            if (w[0] == '%') {
                cr_assert(w[1] == 's', "tu_cmd: only %%s in %s", words);
                a = va_arg(ap, const char *);
                len = strlen(a);
                w++;
            }
            cr_assert(o + len < sizeof c->buf, "tu_cmd: the command line is too long");
            memcpy(c->buf + o, a, len);
            o += len;
        }
        c->buf[o++] = 0;
        while (*w == ' ')
            w++;
    }
    va_end(ap);
    c->argv[n] = NULL;
    return c->argv;
}

/* Whether a line of the file @p path (lines up to 4095 bytes) holds
 * @p needle; 0 when the file cannot be read. */
static inline int tu_file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

#endif
