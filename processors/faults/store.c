/* sluice-faults store: the materialize flavor over the fault topic or
 * stream, one row per fault id in the table `faults`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/sluice.h>

#include "common/cli.h"
#include "faults/faults.h"

int faults_store_run(int argc, char **argv)
{
    cli_t c;
    int rc = cli_parse(&c, "sluice-faults store", CLI_LISTENER, argc, argv);
    if (rc) {
        cli_free(&c);
        return rc < 0 ? 0 : rc;
    }
    /* --view sqlite:PATH#faults, set by main.c */
    char *view = strdup(c.view + 7);
    char *hash = view ? strrchr(view, '#') : NULL;
    if (!hash) {
        free(view);
        cli_free(&c);
        return EXIT_RUNTIME;
    }
    *hash = 0;
    sl_processor_t *p = cli_processor(&c);
    if (!p) {
        free(view);
        cli_free(&c);
        return EXIT_USAGE;
    }
    char err[512];
    /* --describe touches no file: an in-memory store stands in for it. */
    sl_store_t *store =
        sl_store_sqlite_open(c.describe ? ":memory:" : view, hash + 1, err, sizeof err);
    if (!store) {
        cli_error(&c, "--store sqlite:%s: %s", view, err);
        rc = EXIT_RUNTIME;
        goto out;
    }
    const char *types[] = {"fault"};
    sl_pipeline_t *pl = sl_pipeline_new("store");
    /* The fault id is the key and the whole event the row: a replayed fault
     * (same id) is the same row, so the store is idempotent by id. */
    sl_materialize_opts_t o = {.types = types,
                               .type_count = 1,
                               .match = SL_MATCH_EXACT,
                               .key_pointer = "/id",
                               .store = store,
                               .batch = {0, 0, -1}};
    int mrc = pl ? sl_materialize(pl, &o) : SL_ENOMEM;
    if (mrc) {
        cli_error(&c, "cannot build the pipeline: %s", sl_strerror(mrc));
        sl_store_destroy(store);
        sl_pipeline_destroy(pl);
        rc = EXIT_RUNTIME;
        goto out;
    }
    if ((rc = cli_add_pipeline(&c, p, pl)))
        goto out;
    rc = cli_start(&c, p);
out:
    sl_processor_destroy(p);
    free(view);
    cli_free(&c);
    return rc;
}
