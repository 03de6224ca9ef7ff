/* What the Kinesis benches share: kinesalite (node, tests/kinesis/server)
 * started in a temporary folder and stopped again. Include after
 * bench_util.h (die). */
#ifndef SLUICE_BENCH_KINESALITE_H
#define SLUICE_BENCH_KINESALITE_H

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SLUICE_SOURCE_DIR
#define SLUICE_SOURCE_DIR "."
#endif

extern char **environ;

/* Starts the server in a new folder made from @p dir_template (mkdtemp)
 * into @p dir, with the extra arguments @p streams (NULL-ended, e.g.
 * "--stream", "in:6"); its URL into @p url, its pid into *@p pid and the
 * write end of its stdin (it exits at EOF; close-on-exec) into *@p in. Dies
 * when it cannot start. */
static inline void bench_kinesalite_start(const char *dir_template, char *const *streams, char *dir,
                                          size_t dir_size, char *url, size_t url_size, pid_t *pid,
                                          int *in)
{
    const char *js = getenv("SLUICE_KINESIS_SERVER");
    char path[1024];
    if (!js) {
        snprintf(path, sizeof path, "%s/tests/kinesis/server/server.js", SLUICE_SOURCE_DIR);
        js = path;
    }
    snprintf(dir, dir_size, "%s", dir_template);
    if (!mkdtemp(dir))
        die("mkdtemp: %s", strerror(errno));
    char pf[128], log[128];
    snprintf(pf, sizeof pf, "%s/ports.json", dir);
    snprintf(log, sizeof log, "%s/server.log", dir);
    char *argv[32] = {"node", (char *)js, "--port-file", pf, "--exit-on-stdin-eof"};
    size_t argc = 5;
    for (size_t i = 0; streams && streams[i] && argc < 31; i++)
        argv[argc++] = streams[i];
    argv[argc] = NULL;
    int fds[2];
    if (pipe(fds))
        die("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (posix_spawnp(pid, "node", &fa, NULL, argv, environ))
        die("cannot start node %s (run scripts/deps.sh: npm ci in tests/kinesis/server)", js);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[0]);
    *in = fds[1];
    fcntl(*in, F_SETFD, FD_CLOEXEC);
    json_t *j = NULL;
    for (int i = 0; i < 600 && !j; i++) {
        j = json_load_file(pf, 0, NULL);
        if (!j)
            nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
    }
    if (!j)
        die("the kinesalite server did not start (see %s)", log);
    snprintf(url, url_size, "%s", json_string_value(json_object_get(j, "kinesalite")));
    json_decref(j);
}

/* Stops the server of bench_kinesalite_start() and removes @p dir. */
static inline void bench_kinesalite_stop(const char *dir, pid_t pid, int in)
{
    if (in >= 0)
        close(in);
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    bench_rmtree(dir);
}

#endif
