/* sluice-faults — keep fault events, list them, show one, resubmit them.
 *
 *   store     a listener over the fault topic or stream: the materialize
 *             flavor keyed by the fault id into the SQLite table `faults`
 *             (idempotent by id, at-least-once like every processor)
 *   list      a table, or JSON lines, of the stored faults matching filters
 *   show      one fault whole, its original value pretty-printed when JSON
 *   resubmit  a dry run by default; see resubmit.c
 *
 * The resubmit state of each fault lives beside the view in the table
 * `faults_resubmit` (see faults_db.c). See --help. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "faults/faults.h"

#define PROG "sluice-faults"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s COMMAND [options]\n\n"
            "Fault events you can get back: keep them, look at them, and once the cause is\n"
            "fixed, send the original records again to the pipeline that faulted.\n\n"
            "  store --source kafka:TOPIC|kinesis:STREAM --store sqlite:PATH [listener options]\n"
            "        keep every fault event in PATH (table faults), idempotent by fault id;\n"
            "        faults of this processor itself go to --faults (default\n"
            "        kafka:faults.unstorable; it must differ from --source)\n"
            "  list [--store sqlite:PATH] [--pipeline P] [--error E] [--processor N]\n"
            "       [--since T] [--until T] [--status open|resubmitted] [--limit N] [--json]\n"
            "        the faults, oldest first: a table, or one JSON object per line\n"
            "  show [--store sqlite:PATH] ID\n"
            "        one fault, everything in it; the original value pretty-printed when JSON\n"
            "  resubmit [--store sqlite:PATH] (ID... | --all | filters) [--to kafka:TOPIC |\n"
            "           kinesis:STREAM] [--rate N] [--execute] [--force] [-X K=V] [-c K=V]\n"
            "        a dry run by default: prints what it would send. With --execute it\n"
            "        produces each original key, value and headers to its topic or stream\n"
            "        (or --to), with the headers sluice.resubmit.pipeline (only that pipeline\n"
            "        processes it again) and sluice.resubmit.fault, and marks it resubmitted\n"
            "        once the destination acknowledged it, exactly once across interrupted\n"
            "        runs. A resubmitted fault is skipped unless --force. To Kinesis, each\n"
            "        record goes in the sluice envelope (key, headers and value), which the\n"
            "        Kinesis source unwraps (see the README, \"When an event faults\").\n\n"
            "--store defaults to sqlite:faults.db (SLUICE_STORE). T is RFC 3339\n"
            "(2026-11-29T10:00:00Z) or milliseconds since the epoch. Exit codes: 0 done,\n"
            "1 could not run (store, brokers, unknown fault), 2 bad usage.\n",
            PROG);
}

/* store: the listener's flags, with --store for --view, the key and the
 * type fixed (a fault event is typed "fault" and identified by its id). */
static int cmd_store(int argc, char **argv)
{
    const char **av = calloc((size_t)argc + 12, sizeof *av);
    if (!av) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        return EXIT_RUNTIME;
    }
    char *view = NULL;
    int n = 0, has_faults = 0, has_name = 0, rc = EXIT_USAGE;
    const char *source = NULL, *faults = NULL;
    av[n++] = PROG " store";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            rc = 0;
            goto out;
        }
        if (!strcmp(a, "--store") || !strncmp(a, "--store=", 8)) {
            const char *v = a[7] == '=' ? a + 8 : i + 1 < argc ? argv[++i] : NULL;
            if (!v || strncmp(v, "sqlite:", 7) || !v[7] || strchr(v, '#')) {
                fprintf(stderr, "%s: --store %s: expected sqlite:PATH\n", PROG, v ? v : "");
                goto out;
            }
            free(view);
            view = malloc(strlen(v) + 8);
            if (!view)
                goto out;
            sprintf(view, "%s#faults", v);
            continue;
        }
        for (const char *const *k =
                 (const char *const[]){"--key", "--types", "--entity-at", "--view", NULL};
             *k; k++) {
            size_t kl = strlen(*k);
            if (!strncmp(a, *k, kl) && (!a[kl] || a[kl] == '=')) {
                fprintf(stderr, "%s: %s is not an option of store (see --help)\n", PROG, *k);
                goto out;
            }
        }
        if (!strcmp(a, "--faults") && i + 1 < argc)
            faults = argv[i + 1];
        else if (!strncmp(a, "--faults=", 9))
            faults = a + 9;
        if (!strcmp(a, "--source") && i + 1 < argc)
            source = argv[i + 1];
        else if (!strncmp(a, "--source=", 9))
            source = a + 9;
        has_faults |= !strncmp(a, "--faults", 8);
        has_name |= !strncmp(a, "--name", 6);
        av[n++] = a;
    }
    if (!view) {
        const char *e = getenv("SLUICE_STORE");
        const char *v = e && *e ? e : "sqlite:faults.db";
        view = malloc(strlen(v) + 8);
        if (!view)
            goto out;
        sprintf(view, "%s#faults", v);
    }
    if (!has_faults && !getenv("SLUICE_FAULTS")) {
        av[n++] = "--faults";
        av[n++] = "kafka:faults.unstorable";
        faults = "kafka:faults.unstorable";
    }
    if (source && faults && !strcmp(source, faults)) {
        /* Its own faults would come back to it as input, for ever. */
        fprintf(stderr, "%s: --faults %s: the store's own faults cannot go to its --source\n", PROG,
                faults);
        goto out;
    }
    if (!has_name) {
        av[n++] = "--name";
        av[n++] = "faults-store";
    }
    av[n++] = "--view";
    av[n++] = view;
    av[n++] = "--key";
    av[n++] = "/id";
    av[n++] = "--types";
    av[n++] = "fault";
    av[n] = NULL;
    rc = faults_store_run(n, (char **)av);
out:
    free(view);
    free(av);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "%s: a command is needed: store, list, show or resubmit (see --help)\n",
                PROG);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("%s (sluice) %s\n", PROG, sl_version());
        return 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "store"))
        return cmd_store(argc - 1, argv + 1);
    if (!strcmp(cmd, "list"))
        return faults_list(argc - 1, argv + 1);
    if (!strcmp(cmd, "show"))
        return faults_show(argc - 1, argv + 1);
    if (!strcmp(cmd, "resubmit"))
        return faults_resubmit(argc - 1, argv + 1);
    fprintf(stderr, "%s: unknown command \"%s\": store, list, show or resubmit (see --help)\n",
            PROG, cmd);
    return EXIT_USAGE;
}
