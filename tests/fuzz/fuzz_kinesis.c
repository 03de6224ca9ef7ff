/* libFuzzer target: the Kinesis client's reading of HTTP answers (error
 * bodies, and GetRecords / ListShards / PutRecords / GetShardIterator
 * results) and of GetRecords entries, and its base64.
 *
 * Input: byte 0 picks the HTTP status (200 mostly; 403, 400, 500, 503, 413),
 * the rest is the body, as kinesalite or AWS would send it.
 *
 * Properties: an answer is accepted exactly when the status is 200 and
 * jansson reads the body; otherwise the code, the failure class and the
 * __type agree (throttling is retriable, an expired iterator SL_ESTATE,
 * refused credentials or signatures a class of their own, ...)
 * and the message is terminated and starts "kinesis: HTTP <status>". As
 * PutRecords results, an answer is refused unless it holds one result per
 * record, and an entry fails (retriably, with a reason) exactly when it has
 * an ErrorCode. Every
 * GetRecords entry with string Data and SequenceNumber is read, with its
 * strings borrowed whole, a non-negative arrival time, and a value that is
 * Data decoded when it is base64 (re-encoding gives Data back) or Data
 * itself. Base64 round-trips the input's bytes. Nothing leaks. */
#include "fuzz_common.h"
#include "kinesis/client.h"
#include "sluice/error.h"
#include "sluice/record.h"

#include <jansson.h>

#define T "fuzz_kinesis"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sl_mem_use_for_jansson();
    return 0;
}

/* The failure class a __type must give, written apart from the client. */
static sl__kin_fail_t class_of(long status, const char *type)
{
    if (status >= 500)
        return KIN_SERVER;
    if (!type)
        return status == 403 ? KIN_DENIED : KIN_INVALID;
    const char *h = strrchr(type, '#');
    if (h)
        type = h + 1;
    static const struct {
        const char *name;
        sl__kin_fail_t why;
    } table[] = {
        {"ProvisionedThroughputExceededException", KIN_THROTTLED},
        {"LimitExceededException", KIN_THROTTLED},
        {"ThrottlingException", KIN_THROTTLED},
        {"KMSThrottlingException", KIN_THROTTLED},
        {"ExpiredIteratorException", KIN_EXPIRED},
        {"ResourceNotFoundException", KIN_NOT_FOUND},
        /* AWS's names for credentials or signatures that no retry fixes */
        {"AccessDeniedException", KIN_DENIED},
        {"AccessDenied", KIN_DENIED},
        {"KMSAccessDeniedException", KIN_DENIED},
        {"UnrecognizedClientException", KIN_DENIED},
        {"InvalidSignatureException", KIN_DENIED},
        {"IncompleteSignatureException", KIN_DENIED},
        {"MissingAuthenticationTokenException", KIN_DENIED},
        {"MissingAuthenticationToken", KIN_DENIED},
        {"InvalidClientTokenId", KIN_DENIED},
        {"ExpiredTokenException", KIN_DENIED},
        {"InternalFailure", KIN_SERVER},
        {"ServiceUnavailable", KIN_SERVER},
    };
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (!strcmp(type, table[i].name))
            return table[i].why;
    return KIN_INVALID;
}

static void check_records(json_t *resp)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(resp, "Records"), i, r)
    {
        sl__kin_rec_t e;
        json_t *data = json_object_get(r, "Data"), *seq = json_object_get(r, "SequenceNumber");
        int rc = sl__kin_rec_parse(r, &e);
        if (rc != 0 && rc != SL_EFIELD)
            fuzz_fail(T, "sl__kin_rec_parse returned an unexpected code");
        if ((rc == 0) != (json_is_string(data) && json_is_string(seq)))
            fuzz_fail(T, "an entry is read or refused wrongly");
        if (rc)
            continue;
        json_t *pk = json_object_get(r, "PartitionKey");
        if (e.data != json_string_value(data) || e.data_len != json_string_length(data) ||
            e.seq != json_string_value(seq) || e.seq_len != json_string_length(seq) ||
            e.key_len != (json_is_string(pk) ? json_string_length(pk) : 0) ||
            strlen(e.key) != e.key_len || e.arrival_ms < 0)
            fuzz_fail(T, "an entry's fields are not the answer's");
        unsigned char *val = malloc(e.data_len + 1);
        unsigned char *mine = malloc(e.data_len + 1);
        char *back = malloc(e.data_len + 4);
        if (!val || !mine || !back)
            abort();
        size_t n = sl__kin_rec_value(&e, val);
        if (n > e.data_len)
            fuzz_fail(T, "the value is longer than Data");
        size_t dec;
        if (!sl_base64_decode(e.data, e.data_len, mine, &dec)) {
            /* Data is base64: the value is its decoding, and re-encoding it
             * gives Data back (up to the unused bits of a padded tail). */
            if (dec != n || memcmp(mine, val, n) || sl_base64_encode(val, n, back) != e.data_len)
                fuzz_fail(T, "base64 Data decoded to a wrong length");
            size_t tail = e.data_len && e.data[e.data_len - 1] == '=' ? 4 : 0;
            if (memcmp(back, e.data, e.data_len - tail))
                fuzz_fail(T, "base64 Data does not encode back");
        } else if (n != e.data_len || memcmp(val, e.data, n)) {
            fuzz_fail(T, "Data that is not base64 is not passed on as it came");
        }
        free(val);
        free(mine);
        free(back);
    }
}

/* The answer read as PutRecords results for a call of @p n records. */
static void check_put(json_t *resp, size_t n)
{
    json_t *recs = json_object_get(resp, "Records");
    int *entry = calloc(n + 1, sizeof *entry);
    char **emsg = calloc(n + 1, sizeof *emsg), msg[300];
    if (!entry || !emsg)
        abort();
    memset(msg, 'x', sizeof msg);
    int rc = sl__kin_put_results(resp, n, entry, emsg, msg, sizeof msg);
    if (rc != 0 && rc != SL_EIO)
        fuzz_fail(T, "sl__kin_put_results returned an unexpected code");
    if ((rc == 0) != (json_is_array(recs) && json_array_size(recs) == n))
        fuzz_fail(T, "PutRecords results accepted or refused wrongly");
    if (rc && (!memchr(msg, 0, sizeof msg) || strncmp(msg, "kinesis PutRecords: ", 20)))
        fuzz_fail(T, "a refused PutRecords answer without a message");
    for (size_t i = 0; i < n; i++) {
        int failed = !rc && json_is_string(json_object_get(json_array_get(recs, i), "ErrorCode"));
        if (entry[i] != (failed ? SL_EAGAIN : 0) || !emsg[i] != !failed ||
            (emsg[i] && strncmp(emsg[i], "kinesis PutRecords entry: ", 26)))
            fuzz_fail(T, "a PutRecords entry's outcome is not its ErrorCode");
        sl_free(emsg[i]);
    }
    free(entry);
    free(emsg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = {200, 200, 200, 403, 400, 500, 503, 413};
    if (size < 1)
        return 0;
    long status = statuses[data[0] & 7];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    char msg[300];
    json_t *resp = (json_t *)1;
    sl__kin_fail_t why = (sl__kin_fail_t)-1;
    int64_t live = fuzz_live_blocks();

    memset(msg, 'x', sizeof msg);
    int rc = sl__kin_answer(status, body, len, &resp, &why, msg, sizeof msg);
    json_error_t je;
    json_t *j = len ? json_loadb(body, len, 0, &je) : NULL;
    if ((rc == 0) != (status == 200 && j != NULL))
        fuzz_fail(T, "an answer is accepted or refused wrongly");
    if (rc == 0) {
        if (!resp || why != KIN_OK || !json_equal(resp, j))
            fuzz_fail(T, "an accepted answer is not the body");
        check_records(resp);
        json_t *recs = json_object_get(resp, "Records");
        size_t n = json_is_array(recs) ? json_array_size(recs) : 0;
        check_put(resp, n);
        check_put(resp, n + 1);
        json_decref(resp);
    } else {
        if (resp)
            fuzz_fail(T, "a refused answer with a body");
        const char *type = json_string_value(json_object_get(j, "__type"));
        sl__kin_fail_t want = status == 200 ? KIN_SERVER : class_of(status, type);
        int code = want == KIN_THROTTLED   ? SL_EAGAIN
                   : want == KIN_SERVER    ? SL_EIO
                   : want == KIN_EXPIRED   ? SL_ESTATE
                   : want == KIN_NOT_FOUND ? SL_ENOENT
                                           : SL_EINVAL;
        if (why != want || rc != code)
            fuzz_fail(T, "the failure class or code does not match the status and __type");
        char head[40];
        snprintf(head, sizeof head, "kinesis: HTTP %ld ", status);
        if (!memchr(msg, 0, sizeof msg) || strncmp(msg, head, strlen(head)))
            fuzz_fail(T, "the message is not terminated or does not name the status");
    }
    json_decref(j);

    /* base64 of the body's bytes reads back */
    char *enc = malloc(4 * ((len + 2) / 3) + 1);
    unsigned char *dec = malloc(len + 3);
    if (!enc || !dec)
        abort();
    size_t el = sl_base64_encode(body, len, enc), dl = 0;
    if (el != 4 * ((len + 2) / 3) || sl_base64_decode(enc, el, dec, &dl) || dl != len ||
        memcmp(dec, body, len))
        fuzz_fail(T, "base64 does not round-trip");
    free(enc);
    free(dec);
    if (fuzz_live_blocks() != live)
        fuzz_fail(T, "leaked memory");
    return 0;
}
