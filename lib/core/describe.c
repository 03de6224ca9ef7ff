/* sluice — a processor's description: the event types its pipelines declare
 * (sl_pipeline_consumes/produces), the channels of its sinks, and the
 * AsyncAPI 3.0 document built from them, as a jansson tree or YAML.
 *
 * The document embeds every schema in components.schemas: a schema's own
 * `$ref`s are rewritten to point there (its `$defs` under its component, a
 * reference to another built-in schema such as event.json to that one's
 * component), so the document is self-contained and a parser resolves it
 * without fetching anything. */
#include "core/describe.h"
#include "core/core.h"
#include "core/util.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#include <stdio.h>
#include <string.h>

/* ---- declarations ---- */

const char *sl_schema(const char *name)
{
    for (size_t i = 0; name && sl__schema_names[i]; i++)
        if (!strcmp(sl__schema_names[i], name))
            return sl__schema_texts[i];
    return NULL;
}

int sl__pipeline_declare(sl_pipeline_t *p, int produces, const char *type, int prefix,
                         const char *schema_json)
{
    const char *what = produces ? "produces" : "consumes";
    if (!p)
        return SL_EINVAL;
    if (p->eng)
        return sl__pipeline_fail(p, SL_ESTATE, "%s: the pipeline is already added", what);
    if (type && !*type)
        return sl__pipeline_fail(p, SL_EINVAL, "%s: an empty type (NULL means any type)", what);
    /* A type is text in a JSON document: UTF-8. */
    json_t *t = type ? json_string(type) : NULL;
    if (type && !t)
        return sl__pipeline_fail(p, SL_EINVAL, "%s: the type is not UTF-8 text (or out of memory)",
                                 what);
    json_decref(t);
    json_error_t jerr;
    json_t *schema = json_loads(schema_json ? schema_json : sl_schema("event"), 0, &jerr);
    if (!schema)
        return sl__pipeline_fail(p, SL_EINVAL, "%s %s: the schema is not JSON: %s (line %d)", what,
                                 type ? type : "(any type)", jerr.text, jerr.line);
    if (!json_is_object(schema)) {
        json_decref(schema);
        return sl__pipeline_fail(p, SL_EINVAL, "%s %s: a JSON Schema is an object", what,
                                 type ? type : "(any type)");
    }
    sl__decl_t *d = sl_realloc(p->decls, (p->ndecls + 1) * sizeof *d);
    if (!d) {
        json_decref(schema);
        return sl__pipeline_fail(p, SL_ENOMEM, "%s: out of memory", what);
    }
    p->decls = d;
    d += p->ndecls;
    d->produces = produces;
    d->prefix = prefix;
    d->schema = schema;
    d->type = NULL;
    if (type && !(d->type = sl_strdup(type))) {
        json_decref(schema);
        return sl__pipeline_fail(p, SL_ENOMEM, "%s: out of memory", what);
    }
    p->ndecls++;
    return 0;
}

void sl__pipeline_decls_free(sl_pipeline_t *p)
{
    for (size_t i = 0; i < p->ndecls; i++) {
        sl_free(p->decls[i].type);
        json_decref(p->decls[i].schema);
    }
    sl_free(p->decls);
    p->decls = NULL;
    p->ndecls = 0;
}

int sl_pipeline_consumes(sl_pipeline_t *p, const char *type, const char *schema_json)
{
    return sl__pipeline_declare(p, 0, type, 0, schema_json);
}

int sl_pipeline_produces(sl_pipeline_t *p, const char *type, const char *schema_json)
{
    return sl__pipeline_declare(p, 1, type, 0, schema_json);
}

int sl_pipeline_filter_consumed(sl_pipeline_t *p)
{
    if (!p)
        return SL_EINVAL;
    size_t n = 0, nprefix = 0;
    for (size_t i = 0; i < p->ndecls; i++) {
        if (p->decls[i].produces)
            continue;
        if (!p->decls[i].type)
            return sl__pipeline_fail(p, SL_EINVAL,
                                     "filter_consumed: it consumes any type: there is nothing "
                                     "to filter");
        n++;
        nprefix += (size_t)p->decls[i].prefix;
    }
    if (!n)
        return sl__pipeline_fail(p, SL_EINVAL,
                                 "filter_consumed: no consumed type declared (call "
                                 "sl_pipeline_consumes() first)");
    if (nprefix && nprefix != n)
        return sl__pipeline_fail(p, SL_EINVAL,
                                 "filter_consumed: exact types and prefixes are declared: one "
                                 "filter cannot match both");
    const char **types = sl_calloc(n, sizeof *types);
    if (!types)
        return sl__pipeline_fail(p, SL_ENOMEM, "filter_consumed: out of memory");
    n = 0;
    for (size_t i = 0; i < p->ndecls; i++)
        if (!p->decls[i].produces)
            types[n++] = p->decls[i].type;
    int rc = sl_pipeline_filter_types(p, nprefix ? SL_MATCH_PREFIX : SL_MATCH_EXACT, types, n);
    sl_free(types);
    return rc;
}

/* ---- sink channels ---- */

int sl__sink_set_channel(sl_sink_t *s, const char *protocol, const char *address,
                         const char *servers)
{
    if (!s || !protocol || !address)
        return SL_EINVAL;
    sl__sink_channel_free(s);
    s->ch_protocol = sl_strdup(protocol);
    s->ch_address = sl_strdup(address);
    s->ch_servers = sl_strdup(servers ? servers : "");
    if (!s->ch_protocol || !s->ch_address || !s->ch_servers) {
        sl__sink_channel_free(s);
        return SL_ENOMEM;
    }
    return 0;
}

void sl__sink_channel_free(sl_sink_t *s)
{
    sl_free(s->ch_protocol);
    sl_free(s->ch_address);
    sl_free(s->ch_servers);
    s->ch_protocol = s->ch_address = s->ch_servers = NULL;
}

/* ---- the document ---- */

typedef struct doc_s {
    json_t *root, *servers, *channels, *operations, *messages, *schemas;
    int oom;
} doc_t;

/* Component and channel keys match ^[A-Za-z0-9._-]+$: anything else
 * becomes '_'. */
static void key_of(const char *s, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.';
        out[k++] = ok ? c : '_';
    }
    if (!k && cap > 1)
        out[k++] = '_';
    out[k] = 0;
}

/* A key not yet in @p obj: @p base, else base-2, base-3... unless @p want
 * is the entry under a key (then that key). @p cap is at least 16. */
static void free_key(json_t *obj, const char *base, const json_t *want, char *out, size_t cap)
{
    snprintf(out, cap, "%s", base);
    for (int i = 2;; i++) {
        json_t *have = json_object_get(obj, out);
        if (!have || (want && json_equal(have, want)))
            return;
        /* The base is cut to leave room for the suffix: a long base must
         * still give distinct keys. */
        if (snprintf(out, cap, "%.*s-%d", (int)(cap - 13), base, i) < 0)
            return;
    }
}

/* {"$ref": "<a><b><c><d>"} */
static json_t *ref(const char *a, const char *b, const char *c, const char *d)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s%s%s%s", a, b, c, d);
    return json_pack("{s:s}", "$ref", buf);
}

static void set_new(doc_t *d, json_t *obj, const char *key, json_t *v)
{
    if (!v || json_object_set_new(obj, key, v))
        d->oom = 1;
}

static const char *add_schema(doc_t *d, const json_t *schema, const char *fallback, char *out,
                              size_t cap);

/* A built-in schema as a tree; NULL (and the document given up) when out
 * of memory. jansson's lexer drops a byte when an allocation fails instead
 * of failing the parse, so the tree is checked against the text: dumped
 * the way embed_schemas.py wrote it, it must be the same bytes. */
static json_t *builtin(doc_t *d, const char *name)
{
    const char *text = sl_schema(name);
    json_t *t = text ? json_loads(text, 0, NULL) : NULL;
    size_t n = t ? json_dumpb(t, NULL, 0, JSON_COMPACT | JSON_ENSURE_ASCII) : 0;
    char *buf = n ? sl_malloc(n) : NULL;
    int same = buf && json_dumpb(t, buf, n, JSON_COMPACT | JSON_ENSURE_ASCII) == n &&
               n == strlen(text) && !memcmp(buf, text, n);
    sl_free(buf);
    if (!same) {
        json_decref(t);
        d->oom = 1;
        return NULL;
    }
    return t;
}

/* The component a schema's `$ref` to another file names, when it is one of
 * the built-in schemas ("event.json", "https://sluice.dev/schemas/event.json"). */
static const char *builtin_ref(const char *r, char *out, size_t cap)
{
    const char *slash = strrchr(r, '/');
    const char *base = slash ? slash + 1 : r;
    size_t n = strcspn(base, "#");
    if (n < 6 || strncmp(base + n - 5, ".json", 5) || strchr(r, '#'))
        return NULL;
    char name[128];
    if (n - 5 >= sizeof name)
        return NULL;
    memcpy(name, base, n - 5);
    name[n - 5] = 0;
    const char *text = sl_schema(name);
    if (!text)
        return NULL;
    snprintf(out, cap, "%s", name);
    return out;
}

/* Rewrites the `$ref`s of @p v, a part of the schema stored as component
 * @p name. */
static void rewrite_refs(doc_t *d, json_t *v, const char *name)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) rewrite_refs(d, x, name);
        return;
    }
    if (!json_is_object(v))
        return;
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x)
    {
        if (strcmp(k, "$ref") || !json_is_string(x)) {
            rewrite_refs(d, x, name);
            continue;
        }
        const char *r = json_string_value(x);
        char target[160], key[160];
        if (!strncmp(r, "#/", 2)) {
            char buf[512];
            snprintf(buf, sizeof buf, "#/components/schemas/%s/%s", name, r + 2);
            if (json_string_set(x, buf))
                d->oom = 1;
        } else if (builtin_ref(r, target, sizeof target)) {
            json_t *s = builtin(d, target);
            if (!s)
                continue;
            add_schema(d, s, target, key, sizeof key);
            json_decref(s);
            char buf[512];
            snprintf(buf, sizeof buf, "#/components/schemas/%s", key);
            if (json_string_set(x, buf))
                d->oom = 1;
        }
    }
}

/* Stores @p schema under components.schemas (named after its $id's file,
 * else @p fallback), once; its key in @p out. */
static const char *add_schema(doc_t *d, const json_t *schema, const char *fallback, char *out,
                              size_t cap)
{
    char base[128];
    const char *id = json_string_value(json_object_get(schema, "$id"));
    const char *slash = id ? strrchr(id, '/') : NULL;
    const char *file = slash ? slash + 1 : id;
    size_t n = file ? strlen(file) : 0;
    if (n > 5 && !strcmp(file + n - 5, ".json"))
        key_of(file, n - 5, base, sizeof base);
    else
        key_of(fallback, strlen(fallback), base, sizeof base);
    json_t *c = json_deep_copy(schema);
    if (!c) {
        d->oom = 1;
        snprintf(out, cap, "%s", base);
        return out;
    }
    /* The dialect and identity belong to the file; inside the document the
     * component's place is its identity. */
    json_object_del(c, "$schema");
    json_object_del(c, "$id");
    /* Reserve the name first: a schema referring to itself or to a schema
     * that refers back must find it. */
    char key[160];
    snprintf(key, sizeof key, "%s", base);
    for (int i = 2;; i++) {
        json_t *have = json_object_get(d->schemas, key);
        if (!have)
            break;
        json_t *probe = json_deep_copy(c);
        doc_t tmp = *d;
        if (probe)
            rewrite_refs(&tmp, probe, key);
        if (!probe || tmp.oom) {
            /* Cannot tell: the document is given up (out of memory). */
            d->oom = 1;
            json_decref(probe);
            json_decref(c);
            snprintf(out, cap, "%s", key);
            return out;
        }
        int same = json_equal(have, probe);
        json_decref(probe);
        if (same) {
            json_decref(c);
            snprintf(out, cap, "%s", key);
            return out;
        }
        snprintf(key, sizeof key, "%s-%d", base, i);
    }
    set_new(d, d->schemas, key, json_object());
    rewrite_refs(d, c, key);
    set_new(d, d->schemas, key, c);
    snprintf(out, cap, "%s", key);
    return out;
}

/* A message of type @p type (NULL: any; @p prefix: a prefix) with @p schema
 * as its payload; its key in @p out. */
static const char *add_message(doc_t *d, const char *type, int prefix, const json_t *schema,
                               const char *fallback, const char *summary, char *out, size_t cap)
{
    char skey[160], base[160];
    add_schema(d, schema, fallback, skey, sizeof skey);
    if (type && prefix) {
        char t[140];
        key_of(type, strlen(type), t, sizeof t);
        snprintf(base, sizeof base, "%s_any", t);
    } else if (type) {
        key_of(type, strlen(type), base, sizeof base);
    } else {
        snprintf(base, sizeof base, "%s", skey);
    }
    /* The title and name carry the whole type (keys are cut to fit). */
    const char *stitle = json_string_value(json_object_get(schema, "title"));
    json_t *title = type && prefix ? json_sprintf("%s* events", type)
                                   : json_string(type     ? type
                                                 : stitle ? stitle
                                                          : skey);
    char pref[200];
    snprintf(pref, sizeof pref, "#/components/schemas/%s", skey);
    json_t *m = title ? json_pack("{s:s, s:O, s:s, s:{s:s}}", "name", type && !prefix ? type : base,
                                  "title", title, "contentType", "application/json", "payload",
                                  "$ref", pref)
                      : NULL;
    json_decref(title);
    if (!m) {
        d->oom = 1;
        snprintf(out, cap, "%s", base);
        return out;
    }
    if (summary)
        set_new(d, m, "summary", json_string(summary));
    free_key(d->messages, base, m, out, cap);
    if (json_object_get(d->messages, out))
        json_decref(m);
    else
        set_new(d, d->messages, out, m);
    return out;
}

/* The $refs of the servers in @p servers (a comma list of host[:port], or
 * an endpoint URL), added to the document once each. */
static json_t *add_servers(doc_t *d, const char *protocol, const char *servers)
{
    json_t *refs = json_array();
    if (!refs) {
        d->oom = 1;
        return NULL;
    }
    const char *s = servers ? servers : "";
    while (*s) {
        while (*s == ',' || *s == ' ')
            s++;
        size_t n = strcspn(s, ", ");
        if (!n)
            break;
        char host[256], proto[32];
        snprintf(proto, sizeof proto, "%s", protocol);
        const char *h = s;
        size_t hn = n;
        const char *scheme = strstr(s, "://");
        if (scheme && scheme < s + n) {
            /* An endpoint URL: its scheme is the protocol, its authority the host. */
            snprintf(proto, sizeof proto, "%.*s", (int)(scheme - s), s);
            h = scheme + 3;
            hn = strcspn(h, "/, ");
        }
        snprintf(host, sizeof host, "%.*s", (int)hn, h);
        s += n;
        const char *k;
        json_t *v, *found = NULL;
        json_object_foreach(d->servers, k, v)
        {
            if (!strcmp(json_string_value(json_object_get(v, "host")), host) &&
                !strcmp(json_string_value(json_object_get(v, "protocol")), proto)) {
                found = v;
                break;
            }
        }
        char key[64];
        if (!found) {
            char base[48];
            key_of(protocol, strlen(protocol), base, sizeof base);
            free_key(d->servers, base, NULL, key, sizeof key);
            json_t *srv = json_pack("{s:s, s:s}", "host", host, "protocol", proto);
            if (srv && strcmp(proto, protocol)) {
                char desc[96];
                snprintf(desc, sizeof desc, "the %s endpoint", protocol);
                set_new(d, srv, "description", json_string(desc));
            }
            set_new(d, d->servers, key, srv);
        } else {
            snprintf(key, sizeof key, "%s", k);
        }
        if (json_array_append_new(refs, ref("#/servers/", key, "", "")))
            d->oom = 1;
    }
    return refs;
}

/* The channel of @p address (once per protocol and address); its key in @p out. */
static const char *add_channel(doc_t *d, const char *protocol, const char *address,
                               const char *servers, const char *title, char *out, size_t cap)
{
    const char *k;
    json_t *v;
    json_object_foreach(d->channels, k, v)
    {
        if (!strcmp(json_string_value(json_object_get(v, "address")), address)) {
            snprintf(out, cap, "%s", k);
            return out;
        }
    }
    char base[160];
    key_of(address, strlen(address), base, sizeof base);
    free_key(d->channels, base, NULL, out, cap);
    json_t *srv = add_servers(d, protocol, servers);
    json_t *ch = json_pack("{s:s, s:s, s:o, s:{}}", "address", address, "title", title, "servers",
                           srv ? srv : json_array(), "messages");
    set_new(d, d->channels, out, ch);
    return out;
}

/* Puts message @p msg on channel @p ch and on its operation. */
static void link_msg(doc_t *d, const char *ch, const char *action, const char *msg,
                     const char *summary)
{
    json_t *c = json_object_get(d->channels, ch);
    json_t *cm = json_object_get(c, "messages");
    if (!cm)
        return;
    if (!json_object_get(cm, msg))
        set_new(d, cm, msg, ref("#/components/messages/", msg, "", ""));
    char op[200];
    snprintf(op, sizeof op, "%s-%s", action, ch);
    json_t *o = json_object_get(d->operations, op);
    if (!o) {
        o = json_pack("{s:s, s:o, s:[]}", "action", action, "channel",
                      ref("#/channels/", ch, "", ""), "messages");
        if (o && summary)
            set_new(d, o, "summary", json_string(summary));
        set_new(d, d->operations, op, o);
        if (!o)
            return;
    }
    json_t *om = json_object_get(o, "messages");
    json_t *r = ref("#/channels/", ch, "/messages/", msg);
    size_t i;
    json_t *x;
    json_array_foreach(om, i, x) if (json_equal(x, r))
    {
        json_decref(r);
        return;
    }
    if (json_array_append_new(om, r))
        d->oom = 1;
}

/* The messages pipeline @p pl declares in direction @p produces, linked to
 * channel @p ch; the generic event when it declares none. */
static void link_decls(doc_t *d, const sl_pipeline_t *pl, int produces, const char *ch,
                       const char *summary)
{
    char mk[160];
    int any = 0;
    for (size_t i = 0; i < pl->ndecls; i++) {
        const sl__decl_t *dc = &pl->decls[i];
        if (dc->produces != produces)
            continue;
        any = 1;
        add_message(d, dc->type, dc->prefix, dc->schema, dc->type ? dc->type : "event", NULL, mk,
                    sizeof mk);
        link_msg(d, ch, produces ? "send" : "receive", mk, summary);
    }
    if (any)
        return;
    json_t *ev = builtin(d, "event");
    if (!ev)
        return;
    add_message(d, NULL, 0, ev, "event", "Any domain event (no type declared).", mk, sizeof mk);
    json_decref(ev);
    link_msg(d, ch, produces ? "send" : "receive", mk, summary);
}

json_t *sl__describe(const sl_engine_t *e, const char *title, const sl__face_t *source,
                     char *errstr, size_t errstr_size)
{
    doc_t d = {0};
    if (!e) {
        sl__errf(errstr, errstr_size, "no engine");
        return NULL;
    }
    const char *name = title && *title ? title : "sluice";
    char desc[1024];
    int off = snprintf(desc, sizeof desc,
                       "The sluice processor \"%s\": what it consumes and produces, "
                       "described by itself (sluice %s). Pipelines:",
                       name, sl_version());
    for (size_t i = 0; i < e->npl && off > 0 && (size_t)off < sizeof desc; i++) {
        const sl_sink_t *s = e->pls[i]->sink;
        off += snprintf(desc + off, sizeof desc - (size_t)off, "%s %s (sink %s)", i ? "," : "",
                        e->pls[i]->name,
                        s && s->ch_address ? s->ch_address
                        : s && s->ops.name ? s->ops.name
                                           : "-");
    }
    d.root = json_pack("{s:s, s:{s:s, s:s, s:s}, s:s, s:{}, s:{}, s:{}, s:{s:{}, s:{}}}",
                       "asyncapi", "3.0.0", "info", "title", name, "version", sl_version(),
                       "description", desc, "defaultContentType", "application/json", "servers",
                       "channels", "operations", "components", "messages", "schemas");
    if (!d.root)
        goto oom;
    d.servers = json_object_get(d.root, "servers");
    d.channels = json_object_get(d.root, "channels");
    d.operations = json_object_get(d.root, "operations");
    d.messages = json_object_get(json_object_get(d.root, "components"), "messages");
    d.schemas = json_object_get(json_object_get(d.root, "components"), "schemas");
    char ch[160], sum[600];

    /* The source: every pipeline receives every record of every address. */
    const char *a = source && source->addresses ? source->addresses : "";
    while (source && *a) {
        while (*a == ',' || *a == ' ')
            a++;
        size_t n = strcspn(a, ", ");
        if (!n)
            break;
        char addr[256];
        snprintf(addr, sizeof addr, "%.*s", (int)n, a);
        a += n;
        char t[600];
        snprintf(t, sizeof t, "source: %s %s", source->protocol, addr);
        add_channel(&d, source->protocol, addr, source->servers, t, ch, sizeof ch);
        snprintf(sum, sizeof sum, "%s consumes these from %s.", name, addr);
        for (size_t i = 0; i < e->npl; i++)
            link_decls(&d, e->pls[i], 0, ch, sum);
    }
    /* Each sink that is a channel: what its pipelines write there. */
    for (size_t i = 0; i < e->npl; i++) {
        const sl_sink_t *s = e->pls[i]->sink;
        if (!s || !s->ch_address)
            continue;
        char t[600];
        snprintf(t, sizeof t, "sink: %s %s", s->ch_protocol, s->ch_address);
        add_channel(&d, s->ch_protocol, s->ch_address, s->ch_servers, t, ch, sizeof ch);
        snprintf(sum, sizeof sum, "%s publishes these to %s.", name, s->ch_address);
        link_decls(&d, e->pls[i], 1, ch, sum);
    }
    /* Faults. */
    const sl_sink_t *f = e->fault_sink;
    if (f && f->ch_address) {
        char t[600], mk[160];
        snprintf(t, sizeof t, "faults: %s %s", f->ch_protocol, f->ch_address);
        add_channel(&d, f->ch_protocol, f->ch_address, f->ch_servers, t, ch, sizeof ch);
        json_t *fs = builtin(&d, "fault");
        if (!fs)
            goto oom;
        /* The same message as a declared "fault" (the faults store consumes
         * them): one message, on both channels. */
        add_message(&d, "fault", 0, fs, "fault", NULL, mk, sizeof mk);
        json_decref(fs);
        snprintf(sum, sizeof sum,
                 "%s publishes a fault event for each unit of work a stage or sink could not "
                 "handle, with its original record.",
                 name);
        link_msg(&d, ch, "send", mk, sum);
    }
    if (d.oom)
        goto oom;
    return d.root;
oom:
    json_decref(d.root);
    sl__errf(errstr, errstr_size, "out of memory");
    return NULL;
}

/* ---- YAML ---- */

typedef struct ybuf_s {
    char *s;
    size_t n, cap;
    int oom;
} ybuf_t;

static void yput(ybuf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *ns = sl_realloc(b->s, cap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void yputs(ybuf_t *b, const char *s)
{
    yput(b, s, strlen(s));
}

static void yindent(ybuf_t *b, int n)
{
    for (int i = 0; i < n; i++)
        yput(b, " ", 1);
}

/* A scalar as JSON: a double-quoted JSON string is a YAML double-quoted
 * string, and JSON numbers, true, false and null are YAML's too. */
static void yscalar(ybuf_t *b, const json_t *v)
{
    size_t n = json_dumpb(v, NULL, 0, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!n || b->oom) {
        b->oom = 1;
        return;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap * 2 > b->n + n + 1 ? b->cap * 2 : b->n + n + 1;
        char *ns = sl_realloc(b->s, cap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    /* The dump itself may allocate (jansson's loop check): it can fail. */
    if (json_dumpb(v, b->s + b->n, n, JSON_ENCODE_ANY | JSON_COMPACT) != n) {
        b->oom = 1;
        return;
    }
    b->n += n;
    b->s[b->n] = 0;
}

/* A key plainly when it is a plain word that YAML reads back as a string,
 * else quoted. */
static void ykey(ybuf_t *b, const char *k)
{
    static const char *const special[] = {"y",  "n",   "yes",  "no", "true", "false",
                                          "on", "off", "null", "~",  NULL};
    int plain =
        (k[0] >= 'a' && k[0] <= 'z') || (k[0] >= 'A' && k[0] <= 'Z') || k[0] == '_' || k[0] == '$';
    for (const char *c = k; plain && *c; c++)
        plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                *c == '_' || *c == '$' || *c == '-' || *c == '.';
    for (const char *const *s = special; plain && *s; s++) {
        size_t i = 0;
        while ((*s)[i] && k[i] && ((*s)[i] == k[i] || (*s)[i] == (k[i] | 0x20)))
            i++;
        plain = (*s)[i] || k[i];
    }
    if (plain) {
        yputs(b, k);
        return;
    }
    json_t *j = json_string(k);
    if (!j) {
        b->oom = 1;
        return;
    }
    yscalar(b, j);
    json_decref(j);
}

static int ycontainer(const json_t *v)
{
    return (json_is_object(v) && json_object_size(v)) || (json_is_array(v) && json_array_size(v));
}

static void ynode(ybuf_t *b, const json_t *v, int indent, int inline_first);

/* After "key:" or "-": a scalar or an empty container on the same line, a
 * non-empty container below. */
static void yvalue(ybuf_t *b, const json_t *v, int indent)
{
    if (json_is_object(v) && !json_object_size(v)) {
        yputs(b, " {}\n");
    } else if (json_is_array(v) && !json_array_size(v)) {
        yputs(b, " []\n");
    } else if (!ycontainer(v)) {
        yputs(b, " ");
        yscalar(b, v);
        yputs(b, "\n");
    } else {
        yputs(b, "\n");
        ynode(b, v, indent, 0);
    }
}

/* A non-empty container at @p indent; @p inline_first: its first line
 * continues the current one (an array item's "- "). */
static void ynode(ybuf_t *b, const json_t *v, int indent, int inline_first)
{
    int first = 1;
    if (json_is_object(v)) {
        const char *k;
        const json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            if (!(first && inline_first))
                yindent(b, indent);
            first = 0;
            ykey(b, k);
            yputs(b, ":");
            yvalue(b, x, indent + 2);
        }
        return;
    }
    size_t i;
    const json_t *x;
    json_array_foreach(v, i, x)
    {
        if (!(first && inline_first))
            yindent(b, indent);
        first = 0;
        yputs(b, "-");
        if (ycontainer(x)) {
            yputs(b, " ");
            ynode(b, x, indent + 2, 1);
        } else {
            yvalue(b, x, indent + 2);
        }
    }
}

char *sl__yaml(const json_t *doc)
{
    ybuf_t b = {0};
    if (ycontainer(doc))
        ynode(&b, doc, 0, 0);
    else
        yvalue(&b, doc, 0);
    if (b.oom) {
        sl_free(b.s);
        return NULL;
    }
    return b.s;
}
