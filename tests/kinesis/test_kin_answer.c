/* The Kinesis client's reading of answers and GetRecords entries (the
 * parsers fuzz_kinesis fuzzes), on cases a fuzzer found or that must hold. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "kinesis/client.h"
#include "sluice/error.h"
#include "sluice/mem.h"

static json_t *entry(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    cr_assert_not_null(j, "%s", je.text);
    return j;
}

/* An arrival time beyond int64 ms (a broken or hostile service) was
 * converted with (int64_t)(ts * 1000.0): undefined behaviour, a UBSan
 * report. It now reads as 0 (unknown), as a negative one does. */
Test(kin_answer, arrival_times_out_of_range_read_as_unknown)
{
    const char *cases[][2] = {
        {"1e300", "0"},
        {"-1e300", "0"},
        {"-5", "0"},
        {"9.3e15", "0"},
        {"\"soon\"", "0"},
        {"1700000000.123", "1700000000123"},
        {"1700000001", "1700000001000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[200];
        snprintf(text, sizeof text,
                 "{\"Data\":\"YQ==\",\"SequenceNumber\":\"1\",\"ApproximateArrivalTimestamp\":%s}",
                 cases[i][0]);
        json_t *j = entry(text);
        sl__kin_rec_t e;
        cr_assert_eq(sl__kin_rec_parse(j, &e), 0, "%s", text);
        cr_assert_eq(e.arrival_ms, strtoll(cases[i][1], NULL, 10), "%s: %lld", text,
                     (long long)e.arrival_ms);
        json_decref(j);
    }
}

Test(kin_answer, entries_without_data_or_sequence_are_refused)
{
    const char *bad[] = {"{\"Data\":\"YQ==\"}", "{\"SequenceNumber\":\"1\"}",
                         "{\"Data\":5,\"SequenceNumber\":\"1\"}", "[]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *j = entry(bad[i]);
        sl__kin_rec_t e;
        cr_assert_eq(sl__kin_rec_parse(j, &e), SL_EFIELD, "%s", bad[i]);
        json_decref(j);
    }
}

Test(kin_answer, values_are_decoded_or_passed_on_as_they_came)
{
    json_t *j =
        entry("{\"Data\":\"eyJhIjoxfQ==\",\"SequenceNumber\":\"7\",\"PartitionKey\":\"k\"}");
    sl__kin_rec_t e;
    unsigned char v[32];
    cr_assert_eq(sl__kin_rec_parse(j, &e), 0);
    cr_assert_eq(sl__kin_rec_value(&e, v), 7);
    cr_assert_eq(memcmp(v, "{\"a\":1}", 7), 0);
    cr_assert_str_eq(e.key, "k");
    json_decref(j);
    j = entry("{\"Data\":\"not base64\",\"SequenceNumber\":\"7\"}");
    cr_assert_eq(sl__kin_rec_parse(j, &e), 0);
    cr_assert_eq(e.key_len, 0);
    cr_assert_eq(sl__kin_rec_value(&e, v), 10);
    cr_assert_eq(memcmp(v, "not base64", 10), 0);
    json_decref(j);
}

Test(kin_answer, error_bodies_give_the_failure_class)
{
    struct {
        long status;
        const char *body;
        int rc;
        sl__kin_fail_t why;
    } cases[] = {
        {400, "{\"__type\":\"com.amazonaws.kinesis#LimitExceededException\"}", SL_EAGAIN,
         KIN_THROTTLED},
        {400, "{\"__type\":\"ExpiredIteratorException\",\"message\":\"x\"}", SL_ESTATE,
         KIN_EXPIRED},
        {400, "{\"__type\":\"ResourceNotFoundException\"}", SL_ENOENT, KIN_NOT_FOUND},
        {400, "{\"__type\":\"ValidationException\"}", SL_EINVAL, KIN_INVALID},
        {503, "Service Unavailable", SL_EIO, KIN_SERVER},
        {200, "<html>", SL_EIO, KIN_SERVER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *j = (json_t *)1;
        sl__kin_fail_t why;
        char msg[300];
        int rc = sl__kin_answer(cases[i].status, cases[i].body, strlen(cases[i].body), &j, &why,
                                msg, sizeof msg);
        cr_assert_eq(rc, cases[i].rc, "%s: %s", cases[i].body, msg);
        cr_assert_eq(why, cases[i].why, "%s", cases[i].body);
        cr_assert_null(j);
    }
}

Test(kin_answer, put_records_results_fail_only_the_entries_with_an_error_code)
{
    json_t *j = entry("{\"FailedRecordCount\":1,\"Records\":[{\"SequenceNumber\":\"1\"},"
                      "{\"ErrorCode\":\"ProvisionedThroughputExceededException\","
                      "\"ErrorMessage\":\"Rate exceeded\"}]}");
    int ent[3] = {0};
    char *emsg[3] = {NULL}, msg[300];
    cr_assert_eq(sl__kin_put_results(j, 2, ent, emsg, msg, sizeof msg), 0);
    cr_assert_eq(ent[0], 0);
    cr_assert_null(emsg[0]);
    cr_assert_eq(ent[1], SL_EAGAIN);
    cr_assert_str_eq(
        emsg[1], "kinesis PutRecords entry: ProvisionedThroughputExceededException: Rate exceeded");
    sl_free(emsg[1]);
    cr_assert_eq(sl__kin_put_results(j, 3, ent, emsg, msg, sizeof msg), SL_EIO);
    cr_assert_str_eq(msg, "kinesis PutRecords: 2 results for 3 records");
    json_decref(j);
}
