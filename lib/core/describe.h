/* sluice — what a processor says about itself (private): the event types
 * its pipelines declare, the channels its sinks write to, and the AsyncAPI
 * 3.0 document built from them (lib/core/describe.c). */
#ifndef SL_CORE_DESCRIBE_H
#define SL_CORE_DESCRIBE_H

#include <jansson.h>
#include <stddef.h>

#include "sluice/engine.h"
#include "sluice/pipeline.h"

/* One declared event type of a pipeline. */
typedef struct sl__decl_s {
    int produces; /* 0: consumed from the source, 1: written to the sink */
    char *type;   /* the event type; NULL = any type */
    int prefix;   /* type is a prefix (a filter_types SL_MATCH_PREFIX name) */
    json_t *schema;
} sl__decl_t;

/* Declare a type (see sl_pipeline_consumes()); @p prefix for a flavor that
 * filters by prefix. @p schema_json NULL = the built-in "event" schema.
 * Returns 0 or an error with sl_pipeline_error() set. */
int sl__pipeline_declare(sl_pipeline_t *p, int produces, const char *type, int prefix,
                         const char *schema_json);
/* Frees the declarations (sl_pipeline_destroy()). */
void sl__pipeline_decls_free(sl_pipeline_t *p);

/* Name the channel a sink writes to: @p protocol ("kafka", "kinesis"),
 * @p address (topic, stream) and @p servers (a comma list of host[:port],
 * or an endpoint URL), all copied. Returns 0 or SL_ENOMEM/SL_EINVAL. A
 * connector calls it when it makes the sink; a sink without one (a store,
 * the user's own) is not a channel of the description. */
int sl__sink_set_channel(sl_sink_t *s, const char *protocol, const char *address,
                         const char *servers);
/* Frees what sl__sink_set_channel() kept (sl_sink_destroy()). */
void sl__sink_channel_free(sl_sink_t *s);

/* Where a processor reads from: the source's protocol, its addresses (a
 * comma list of topics, or one stream) and servers as above. */
typedef struct sl__face_s {
    const char *protocol, *addresses, *servers;
} sl__face_t;

/* The AsyncAPI 3.0 document of engine @p e titled @p title, reading from
 * @p source (NULL: no source channel). A new reference, or NULL with a
 * message in @p errstr (out of memory). */
json_t *sl__describe(const sl_engine_t *e, const char *title, const sl__face_t *source,
                     char *errstr, size_t errstr_size);

/* @p doc as YAML (block style; scalars quoted as JSON strings, so every
 * document stays valid YAML 1.2 whatever its strings hold). A string owned
 * by the caller (sl_free()), or NULL when out of memory. */
char *sl__yaml(const json_t *doc);

#endif
