/* sluice-listener — consume domain events, keep a materialized view.
 *
 * The materialize flavor over a Kafka source: events of the chosen types →
 * one view row per key (a JSON pointer into the event) → newest per key in
 * each batch → one SQLite transaction per batch, upsert only if newer,
 * delete on *-deleted. Faults go to a Kafka topic. With --http the view
 * is also served read-only over HTTP (/views). See --help.
 * --skip-source is parsed here and taken out of argv before the common
 * parser sees the rest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/sluice.h>

#include "common/cli.h"

#define PROG "sluice-listener"
#define MAX_TYPES 256

/* Takes --skip-source NAME out of argv into @p skip. Returns 0 or EXIT_USAGE. */
static int listener_flags(const char **skip, int *argc, char **argv, int *help)
{
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        *help |= !strcmp(a, "--help") || !strcmp(a, "-h");
        if (strncmp(a, "--skip-source", 13) || (a[13] && a[13] != '=')) {
            argv[out++] = argv[i];
            continue;
        }
        const char *v = a[13] == '=' ? a + 14 : i + 1 < *argc ? argv[++i] : NULL;
        if (!v || !*v) {
            fprintf(stderr, "%s: --skip-source needs a non-empty value (see --help)\n", PROG);
            return EXIT_USAGE;
        }
        *skip = v;
    }
    argv[out] = NULL;
    *argc = out;
    return 0;
}

int main(int argc, char **argv)
{
    cli_t c;
    const char *skip = getenv("SLUICE_SKIP_SOURCE");
    int help = 0;
    int rc = listener_flags(&skip, &argc, argv, &help);
    if (rc)
        return rc;
    rc = cli_parse(&c, PROG, CLI_LISTENER, argc, argv);
    if (rc) {
        if (rc < 0 && help)
            printf("\nListener options:\n"
                   "  --skip-source NAME            skip events whose tags.source is NAME    "
                   "SLUICE_SKIP_SOURCE\n"
                   "                                (this service's own events)\n"
                   "  With --http, the view is served read-only too:\n"
                   "    GET /views/TABLE/KEY          one row (ETag; 404 unknown or deleted)\n"
                   "    GET /views/TABLE?after=KEY&limit=N   rows in key order (N <= 1000)\n");
        cli_free(&c);
        return rc < 0 ? 0 : rc;
    }

    /* --types a,b,c*: exact names, or prefixes when every name ends with '*'. */
    char *types_buf = c.types ? strdup(c.types) : NULL;
    const char *types[MAX_TYPES];
    size_t ntypes = 0, nprefix = 0;
    for (char *t = types_buf ? strtok(types_buf, ", ") : NULL; t; t = strtok(NULL, ", ")) {
        if (ntypes == MAX_TYPES) {
            cli_error(&c, "--types: at most %d types", MAX_TYPES);
            goto usage;
        }
        size_t n = strlen(t);
        if (t[n - 1] == '*') {
            t[n - 1] = 0;
            nprefix++;
            if (!*t) {
                cli_error(&c, "--types: \"*\" alone matches everything: leave --types out");
                goto usage;
            }
        }
        types[ntypes++] = t;
    }
    if (nprefix && nprefix != ntypes) {
        cli_error(&c, "--types: use either exact names or prefixes ending with '*', not both");
        goto usage;
    }

    /* --view sqlite:PATH[#TABLE] */
    char *view = strdup(c.view + 7);
    char *hash = view ? strrchr(view, '#') : NULL;
    const char *table = NULL;
    if (hash) {
        *hash = 0;
        table = hash + 1;
    }

    sl_processor_t *p = cli_processor(&c);
    if (!p) {
        free(view);
        free(types_buf);
        cli_free(&c);
        return EXIT_USAGE;
    }
    char err[512];
    /* -c view.synchronous=full: every commit fsyncs (sl_store_sqlite_opts_t);
     * the property table has checked the value. */
    sl_store_sqlite_opts_t so = {.synchronous =
                                     sl_conf_get_str(sl_processor_conf(p), "view.synchronous")};
    /* --describe touches no file: an in-memory view stands in for it. */
    sl_store_t *store =
        sl_store_sqlite_open_opts(c.describe ? ":memory:" : view, table, &so, err, sizeof err);
    if (!store) {
        cli_error(&c, "--view %s: %s", c.view, err);
        rc = EXIT_RUNTIME;
        goto out;
    }
    sl_pipeline_t *pl = sl_pipeline_new("materialize");
    sl_materialize_opts_t o = {.types = ntypes ? types : NULL,
                               .type_count = ntypes,
                               .match = nprefix ? SL_MATCH_PREFIX : SL_MATCH_EXACT,
                               .key_pointer = c.key,
                               .entity_pointer = c.entity_at,
                               .store = store,
                               .batch = {0, 0, -1},
                               .skip_source = skip && *skip ? skip : NULL};
    int mrc = pl ? sl_materialize(pl, &o) : SL_ENOMEM;
    if (mrc) {
        cli_error(&c, "cannot build the pipeline: %s", sl_strerror(mrc));
        sl_store_destroy(store);
        sl_pipeline_destroy(pl);
        rc = mrc == SL_EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
        goto out;
    }
    if ((rc = cli_add_pipeline(&c, p, pl)))
        goto out;
    /* With --http, the view is served read-only beside /metrics: GET
     * /views/<table>/<key> and /views/<table>?after=&limit= (sluice/view.h). */
    if (c.http) {
        sl_view_reader_t *vr = sl_view_reader_sqlite_open(view, table, err, sizeof err);
        if (!vr) {
            cli_error(&c, "--view %s: cannot read it back: %s", c.view, err);
            rc = EXIT_RUNTIME;
            goto out;
        }
        if ((mrc = sl_processor_add_route(p, "/views", sl_view_reader_http, vr,
                                          sl_view_reader_destroy))) {
            cli_error(&c, "cannot serve /views: %s", sl_strerror(mrc));
            sl_view_reader_destroy(vr);
            rc = EXIT_RUNTIME;
            goto out;
        }
    }
    rc = cli_start(&c, p);
out:
    sl_processor_destroy(p);
    free(view);
    free(types_buf);
    cli_free(&c);
    return rc;
usage:
    free(types_buf);
    cli_free(&c);
    return EXIT_USAGE;
}
