/* The sluice side of the differential test (run-cdc-diff.sh): each record of
 * a corpus of DynamoDB Streams records through the cdc flavor with
 * sluice-trigger's defaults (no --entity, the default --drop and --pk-attr)
 * and the tags of a service "my-service" in us-west-2, as one JSON line:
 *   {"label":L,"status":"event","event":<the published text, verbatim>}
 *   {"label":L,"status":"skipped"|"fault","reason":R}
 * usage: cdc_diff_emit CORPUS.json */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sluice/sluice.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: cdc_diff_emit CORPUS.json\n");
        return 2;
    }
    json_error_t je;
    json_t *corpus = json_load_file(argv[1], 0, &je);
    if (!json_is_array(corpus)) {
        fprintf(stderr, "cdc_diff_emit: %s: not a JSON array: %s\n", argv[1], je.text);
        return 1;
    }
    static const char *const drop[] = {"pk", "sk", "discriminator", "ttl", "latched", "awsregion"};
    const sl_cdc_opts_t o = {.format = SL_CDC_DYNAMODB,
                             .source = "my-service",
                             .account = "dev",
                             .stage = "test",
                             .region = "us-west-2",
                             .function_name = "my-service-trigger",
                             .pipeline = "cdc",
                             .drop = drop,
                             .drop_count = sizeof drop / sizeof *drop,
                             .pk_attr = "pk"};
    size_t i;
    json_t *item;
    int rc = 0;
    json_array_foreach(corpus, i, item)
    {
        char *value = json_dumps(item, JSON_COMPACT);
        const char *label = json_string_value(json_object_get(item, "label"));
        if (!value || !label) {
            fprintf(stderr, "cdc_diff_emit: record %zu: no label or out of memory\n", i);
            free(value);
            rc = 1;
            break;
        }
        sl_record_t r = {.topic = "changes",
                         .partition = 0,
                         .offset = (int64_t)i,
                         .timestamp_ms = 1767225600000ll,
                         .value = value,
                         .value_len = strlen(value)};
        char *text = NULL, err[256] = "";
        int crc = sl_cdc_convert_text(&o, &r, &text, NULL, err, sizeof err);
        json_t *head = json_pack("{s:s,s:s}", "label", label, "status",
                                 crc    ? "fault"
                                 : text ? "event"
                                        : "skipped");
        if (!text)
            json_object_set_new(head, "reason", json_string(err));
        char *h = json_dumps(head, JSON_COMPACT);
        /* The event text goes in verbatim: its numbers are the point. */
        if (text)
            printf("%.*s,\"event\":%s}\n", (int)strlen(h) - 1, h, text);
        else
            printf("%s\n", h);
        free(h);
        json_decref(head);
        sl_free(text);
        free(value);
    }
    json_decref(corpus);
    return rc;
}
