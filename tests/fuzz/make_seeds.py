#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets whose input has a binary
header (corpus/cdc, ...). Run it from anywhere after changing a seed:
    python3 tests/fuzz/make_seeds.py
corpus/scan is written by hand (plain JSON)."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def write(corpus, name, data):
    d = os.path.join(HERE, "corpus", corpus)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def j(o):
    return json.dumps(o, separators=(",", ":"))


# ---- cdc: flags, failing allocation, key length, key, value ----------------
DEBEZIUM, POSITION, RTS, SMALLERR, OOM, SOURCE = 1, 2, 4, 8, 16, 32


def cdc(name, flags, value, key=b"", fail=0):
    if isinstance(value, (dict, list)):
        value = j(value)
    if isinstance(value, str):
        value = value.encode()
    write("cdc", name, bytes([flags, fail, len(key)]) + key + value)


def ddb(event, img_new=None, img_old=None, keys=None, act=1700000000.5, **extra):
    d = {}
    if act is not None:
        d["ApproximateCreationDateTime"] = act
    if keys is not None:
        d["Keys"] = keys
    if img_new is not None:
        d["NewImage"] = img_new
    if img_old is not None:
        d["OldImage"] = img_old
    d["SequenceNumber"] = "111"
    d["SizeBytes"] = 26
    d["StreamViewType"] = "NEW_AND_OLD_IMAGES"
    r = {"eventID": "1", "eventName": event, "eventVersion": "1.1",
         "eventSource": "aws:dynamodb", "awsRegion": "eu-west-1", "dynamodb": d}
    r.update(extra)
    return r


KEYS = {"id": {"S": "t-1"}}
IMG = {"id": {"S": "t-1"}, "name": {"S": "widget"}, "qty": {"N": "3"},
       "price": {"N": "19.99"}, "timestamp": {"N": "1700000000123"}}
cdc("ddb_insert", RTS, ddb("INSERT", IMG, keys=KEYS))
cdc("ddb_modify", POSITION, ddb("MODIFY", IMG, IMG, KEYS))
cdc("ddb_remove", 0, ddb("REMOVE", None, IMG, KEYS))
cdc("ddb_remove_keys_only", 0, ddb("REMOVE", keys={"pk": {"S": "a"}, "sk": {"N": "7"}}))
cdc("ddb_typed_sets", SOURCE, ddb("INSERT", {
    "id": {"S": "s"}, "tags": {"SS": ["a", "b"]}, "nums": {"NS": ["1", "2.5", "-3e2"]},
    "blobs": {"BS": ["AAEC", "/w=="]}, "b": {"B": "aGVsbG8="}, "ok": {"BOOL": True},
    "nil": {"NULL": True}}, keys={"id": {"S": "s"}}))
cdc("ddb_nested", 0, ddb("INSERT", {
    "id": {"N": "12"}, "m": {"M": {"l": {"L": [{"S": "x"}, {"M": {"n": {"N": "0"}}},
                                               {"L": []}, {"NULL": True}]},
                                   "e": {"M": {}}}}}, keys={"id": {"N": "12"}}))
cdc("ddb_big_n", 0, ddb("INSERT", {
    "id": {"S": "n"}, "big": {"N": "99999999999999999999999"}, "min": {"N": "-9223372036854775808"},
    "max": {"N": "9223372036854775807"}, "over": {"N": "9223372036854775808"},
    "exp": {"N": "1E+308"}, "tiny": {"N": "1e-320"}, "plus": {"N": "+.5"}}, keys={"id": {"S": "n"}}))
cdc("ddb_n_out_of_range", 0, ddb("INSERT", {"id": {"S": "n"}, "x": {"N": "1e999"}}, keys=KEYS))
cdc("ddb_n_bad", 0, ddb("INSERT", {"id": {"S": "n"}, "x": {"N": "1.2.3"}}, keys=KEYS))
cdc("ddb_record_key", RTS, ddb("INSERT", IMG, act=None), key="t-1".encode())
cdc("ddb_key_not_utf8", 0, ddb("INSERT", IMG, keys=KEYS), key=b"\xff\xfe")
cdc("ddb_unknown_type", 0, ddb("INSERT", {"id": {"X": "1"}}, keys=KEYS))
cdc("ddb_two_types", 0, ddb("INSERT", {"id": {"S": "1", "N": "1"}}, keys=KEYS))
cdc("ddb_bad_event", SMALLERR, ddb("UPSERT", IMG, keys=KEYS), fail=5)
cdc("ddb_no_time", 0, ddb("MODIFY", {"id": {"S": "1"}}, keys=KEYS, act=None))
cdc("ddb_null_members", 0, ddb("INSERT", IMG, None, None, act=None, dynamodb=None))
cdc("ddb_oom", OOM, ddb("INSERT", IMG, keys=KEYS), fail=7)
cdc("ddb_utf8_names", 0, ddb("INSERT", {"id": {"S": "\u00e9t\u00e9"}, "\u00fc": {"S": "\U0001f600"}},
                             keys={"id": {"S": "\u00e9t\u00e9"}}))
cdc("not_json", 0, "{\"eventName\":")
cdc("empty", DEBEZIUM, "")
cdc("scalar", 0, "42")

SRC = {"version": "2.1.0.Final", "connector": "postgresql", "name": "db", "ts_ms": 1700000000000,
       "db": "shop", "schema": "public", "table": "thing"}
AFTER = {"id": 1, "name": "widget", "qty": 3, "timestamp": 1700000000999}
cdc("dbz_create", DEBEZIUM, {"before": None, "after": AFTER, "source": SRC, "op": "c",
                             "ts_ms": 1700000000100})
cdc("dbz_read", DEBEZIUM, {"before": None, "after": AFTER, "source": SRC, "op": "r"})
cdc("dbz_update", DEBEZIUM | POSITION, {"before": AFTER, "after": dict(AFTER, qty=4),
                                       "source": SRC, "op": "u", "ts_ms": 1700000000200})
cdc("dbz_delete", DEBEZIUM, {"before": AFTER, "after": None, "source": SRC, "op": "d",
                             "ts_ms": 1700000000300})
cdc("dbz_payload", DEBEZIUM | RTS, {"schema": {"type": "struct", "optional": False},
                                   "payload": {"before": None, "after": {"id": "a"}, "op": "c",
                                               "source": SRC, "ts_ms": 5}})
cdc("dbz_tombstone", DEBEZIUM, "null")
cdc("dbz_null_payload", DEBEZIUM, {"schema": None, "payload": None})
cdc("dbz_bad_op", DEBEZIUM, {"after": AFTER, "op": "t"})
cdc("dbz_real_key", DEBEZIUM, {"after": {"k": 2.5, "v": [1, {"a": None}]}, "op": "c", "ts_ms": 1.5})
cdc("dbz_no_key", DEBEZIUM, {"after": {"k": True}, "op": "c", "ts_ms": 1})
cdc("dbz_key", DEBEZIUM, {"after": {"id": 9}, "op": "u", "ts_ms": 1}, key=b"{\"id\":9}")
cdc("dbz_negative_ts", DEBEZIUM, {"after": {"id": 9}, "op": "c", "ts_ms": -1})
cdc("dbz_oom", DEBEZIUM | OOM, {"before": AFTER, "after": AFTER, "op": "u", "ts_ms": 7}, fail=3)

# Bit 6: the fast paths against the tree's with every option set by byte 1
# (bit 0 keep latched, 1 keep replicas, 2 region eu-west-1, 3 latched attr
# "loop", 4 pk attr "pk", 5 deleted attr "gone", 6-7 expired mode, 7 drop
# "secret" and "sk"); bit 7 with it: the entity from the discriminator or sk.
OPTS, DISCR = 64, 128
ST = {"pk": {"S": "o-1"}, "sk": {"S": "ORDER"}, "discriminator": {"S": "Order"},
      "secret": {"S": "x"}, "latched": {"BOOL": True}, "loop": {"BOOL": False},
      "awsregion": {"S": "us-east-1"}, "gone": {"BOOL": True}, "deleted": {"BOOL": False}}
STK = {"pk": {"S": "o-1"}, "sk": {"S": "ORDER"}}
cdc("opt_discriminator", OPTS | DISCR, ddb("INSERT", ST, keys=STK), fail=16 | 128)
cdc("opt_sk_only", OPTS | DISCR, ddb("INSERT", {"pk": {"S": "o-2"}, "sk": {"S": "Line"}}, keys=STK))
cdc("opt_latched_kept", OPTS, ddb("MODIFY", ST, dict(ST, gone={"BOOL": False}), STK), fail=1 | 4 | 32)
cdc("opt_latched_skipped", OPTS, ddb("MODIFY", ST, ST, STK), fail=4)
cdc("opt_replica", OPTS | RTS, ddb("INSERT", dict(ST, latched={"BOOL": False}), keys=STK), fail=4 | 8)
cdc("opt_ttl", OPTS, ddb("REMOVE", None, ST, STK, userIdentity={
    "type": "Service", "principalId": "dynamodb.amazonaws.com"}), fail=1 | 64)
cdc("opt_ttl_skip", OPTS | DISCR, ddb("REMOVE", None, ST, STK, userIdentity={
    "type": "Service", "principalId": "dynamodb.amazonaws.com"}), fail=1 | 128)
cdc("opt_dbz", DEBEZIUM | OPTS | DISCR, {"before": {"id": 1, "deleted": False, "gone": False},
                                         "after": {"id": 1, "discriminator": "Thing", "gone": True,
                                                   "secret": "s"}, "op": "u", "ts_ms": 3},
    fail=1 | 32 | 128)

if __name__ == "__main__" and len(sys.argv) > 1:
    sys.exit("usage: make_seeds.py")


# ---- materialize: pointer, newline, event -----------------------------------
def mat(name, ptr, event):
    if not isinstance(event, str):
        event = j(event)
    write("materialize", name, ptr + "\n" + event)


EV = {"id": "e-1", "type": "thing-created", "timestamp": 1700000000000, "partitionKey": "t-1",
      "thing": {"id": "t-1", "name": "Thing 1", "n": 1, "tags": ["a", "b"], "deep": {"x": [0, {"y": None}]}}}
mat("key", "/thing/id", EV)
mat("entity", "/thing", EV)
mat("whole", "", EV)
mat("array_index", "/thing/tags/1", EV)
mat("array_nested", "/thing/deep/x/1/y", EV)
mat("array_out_of_range", "/thing/tags/2", EV)
mat("array_leading_zero", "/thing/tags/01", EV)
mat("array_dash", "/thing/tags/-", EV)
mat("escapes", "/x~1y/0/k~0", '{"type":"thing-created","timestamp":7,"x/y":[{"k~":"deep","v":1}]}')
mat("escaped_key_in_text", "/thing/id",
    '{"type":"t","timestamp":1,"th\\u0069ng":{"\\u0069d":"\\"q\\"\\\\"}}')
mat("bad_escape", "/a~2b", EV)
mat("no_slash", "thing", EV)
mat("empty_token", "/", '{"":{"a":1}}')
mat("duplicate_members", "/thing/id",
    '{"type":"t","thing":{"id":"first"},"thing":{"id":"last"},"timestamp":1}')
mat("numbers", "/n", '{"n": -1.5e3 , "m":[ 1 , 2 ]}')
mat("pretty", "/a/b", '{\n  "a" : {\n    "b" : [ true, false, null ]\n  }\n}\n')
mat("scalar_root", "/a", "42")
mat("integer_key", "/thing/n", EV)
mat("utf8_key", "/\u00e9t\u00e9", '{"\u00e9t\u00e9":"summer","\\u00e9t\\u00e9":"again"}')
mat("long_escaped_key", "/" + "a" * 100, '{"' + "\\u0061" * 100 + '":1}')
# The map stage's one walk (entity and key): duplicate entities, a later
# one that is no object, the key inside a later duplicate only
mat("entity_dup_last_wins", "/thing/id",
    '{"thing":{"id":"a","id":"b"},"type":"t","thing":{"x":1,"id":"c","y":[{"id":0}]}}')
mat("entity_dup_then_scalar", "/thing/id", '{"thing":{"id":"a"},"thing":"flat"}')
mat("entity_dup_key_missing", "/thing/id", '{"thing":{"id":"a"},"thing":{"name":"b"}}')
mat("entity_deep_key", "/a/b/c", '{"a":{"b":{"c":1},"b":{"c":[2]}},"a":{"b":{"c":3,"d":4}}}')


# ---- kinesis: status index (0 = 200, 3 = 403, 4 = 400, 5 = 500, 6 = 503, 7 = 413), body
def kin(name, status, body):
    if not isinstance(body, str):
        body = j(body)
    write("kinesis", name, bytes([status]) + body.encode())


kin("get_records", 0, {
    "Records": [
        {"SequenceNumber": "49590338271490256608559692538361571095921575989136588898",
         "ApproximateArrivalTimestamp": 1700000000.123, "Data": "eyJ0eXBlIjoidCJ9",
         "PartitionKey": "k-1"},
        {"SequenceNumber": "49590338271490256608559692540375101095921575989136588899",
         "ApproximateArrivalTimestamp": 1700000001, "Data": "YQ==", "PartitionKey": "k-2",
         "EncryptionType": "NONE"},
        {"SequenceNumber": "4959", "Data": "YWI=", "PartitionKey": "\u00e9"},
        {"SequenceNumber": "4960", "Data": "", "PartitionKey": ""}],
    "NextShardIterator": "AAAAAAAAAAH", "MillisBehindLatest": 0})
kin("get_records_closed", 0, {"Records": [], "MillisBehindLatest": 0})
kin("get_records_bad_entries", 0, {"Records": [
    {"SequenceNumber": "1", "Data": "not base64!"}, {"Data": "YQ=="}, {"SequenceNumber": 5, "Data": "YQ=="},
    {"SequenceNumber": "2", "Data": "YQ", "ApproximateArrivalTimestamp": 1e300},
    {"SequenceNumber": "3", "Data": "Y===", "ApproximateArrivalTimestamp": -5},
    {"SequenceNumber": "4", "Data": "YR==", "ApproximateArrivalTimestamp": "soon"}, 7, None],
    "NextShardIterator": "B"})
kin("list_shards", 0, {"Shards": [
    {"ShardId": "shardId-000000000000", "HashKeyRange": {"StartingHashKey": "0",
     "EndingHashKey": "170141183460469231731687303715884105727"},
     "SequenceNumberRange": {"StartingSequenceNumber": "49590338271468956000000000000000000000000000000000000000"}},
    {"ShardId": "shardId-000000000001", "ParentShardId": "shardId-000000000000",
     "AdjacentParentShardId": "shardId-000000000002",
     "SequenceNumberRange": {"StartingSequenceNumber": "1", "EndingSequenceNumber": "9"}}],
    "NextToken": "AAAA"})
kin("shard_iterator", 0, {"ShardIterator": "AAAAAAAAAAGh9sJ8cbbjbkjb"})
kin("put_records", 0, {"FailedRecordCount": 1, "Records": [
    {"SequenceNumber": "4959", "ShardId": "shardId-000000000000"},
    {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded for shard"}]})
kin("describe_stream", 0, {"StreamDescription": {"StreamName": "s", "StreamStatus": "ACTIVE",
    "StreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/s", "Shards": [],
    "HasMoreShards": False, "RetentionPeriodHours": 24, "EncryptionType": "NONE"}})
kin("error_not_found", 4, {"__type": "ResourceNotFoundException",
                           "message": "Stream s under account 000000000000 not found."})
kin("error_expired", 4, {"__type": "ExpiredIteratorException", "message": "Iterator expired."})
kin("error_throttled", 4, {"__type": "com.amazonaws.kinesis#ProvisionedThroughputExceededException",
                           "message": "Rate exceeded"})
kin("error_limit", 4, {"__type": "LimitExceededException", "Message": "too many"})
kin("error_validation", 4, {"__type": "ValidationException", "message":
                            "1 validation error detected: " + "x" * 300})
kin("error_serialization", 4, {"__type": "SerializationException", "Message": None})
kin("error_internal", 5, {"__type": "InternalFailure"})
# refused credentials: a class of their own, by __type on any 4xx, or a bare 403
kin("error_denied_403", 3, {"__type": "AccessDeniedException", "message": "User is not authorized"})
kin("error_denied_403_no_type", 3, {"message": "Forbidden"})
kin("error_bad_signature_400", 4, {"__type": "InvalidSignatureException",
                                   "message": "Stream s under account 000000000000 not found."})
kin("error_expired_token", 4, {"__type": "com.amazonaws.kinesis#ExpiredTokenException", "message": "expired"})
kin("error_unavailable_text", 6, "Service Unavailable")
kin("error_too_large", 7, "")
kin("ok_not_json", 0, "<html>nope</html>")
kin("ok_empty", 0, "")
kin("ok_array", 0, "[1,2]")
kin("error_utf8_message", 4, {"__type": "X", "message": "\u00e9" * 150})


# ---- cli: binary (0 listener, 1 trigger), then NUL-separated arguments;
# "\x01NAME=value" is an environment entry.
def cli(name, kind, *args):
    write("cli", name, bytes([kind]) + b"\0".join(a.encode() for a in args))


cli("listener", 0, "--source", "kafka:events", "--key", "/thing/id", "-X",
    "bootstrap.servers=embedded", "--types", "thing-created,thing-updated")
cli("listener_eq", 0, "--source=kinesis:stream", "--key=/a/b", "--entity-at=/a", "--view=sqlite:v.db#t",
    "-cbatch.max.events=100", "-c", "kinesis.endpoint=http://127.0.0.1:4567")
cli("listener_env", 0, "\x01SLUICE_SOURCE=kafka:e", "\x01SLUICE_KEY=/id",
    "\x01SLUICE_KAFKA_BOOTSTRAP_SERVERS=h:9092", "\x01SLUICE_CONF_BATCH_MAX_EVENTS=5", "--name", "n")
cli("trigger", 1, "--source", "kafka:changes", "--sink", "kafka:domain", "--format", "debezium",
    "--entity", "thing", "-X", "bootstrap.servers=h:1", "-c", "retry.max=3")
cli("trigger_kinesis", 1, "--source", "kinesis:ddb", "--sink", "kinesis:out", "--format", "dynamodb",
    "--entity", "order", "--faults", "kinesis:faults", "--group", "app")
cli("help", 0, "--help")
cli("version", 1, "--version")
cli("missing_value", 0, "--source")
cli("empty_value", 1, "--sink=")
cli("wrong_kind", 0, "--sink", "kafka:x")
cli("bad_kv", 0, "-c", "=x")
cli("bad_format", 1, "--source", "kafka:a", "--sink", "kafka:b", "--format", "csv", "--entity", "e")
cli("bad_view", 0, "--source", "kafka:a", "--key", "/k", "--view", "mysql:x")
cli("bad_property", 0, "--source", "kafka:a", "--key", "/k", "-X", "bootstrap.servers=x",
    "-c", "batch.max.events=0", "-c", "nope=1")
cli("long_key", 0, "--source", "kinesis:a", "--faults", "kinesis:f", "--key", "/k", "-c", "kinesis." + "k" * 600 + "=v")
cli("unknown", 1, "--frobnicate")
# Flags that set properties: --instance-id (group.instance.id), --http,
# --log-level, the listener's memory bound and -c/-X over them
cli("ops_flags", 0, "--source", "kafka:e", "--key", "/k", "-X", "bootstrap.servers=h:1",
    "--instance-id", "m-1", "--http", "127.0.0.1:0", "--log-level", "warn", "-c", "memory.max.bytes=1m")
cli("ops_env", 1, "\x01SLUICE_INSTANCE_ID=m-2", "\x01SLUICE_HTTP=[::1]:9464", "\x01SLUICE_LOG_LEVEL=debug",
    "--source", "kafka:c", "--sink", "kafka:d", "--format", "dynamodb", "-X", "bootstrap.servers=h:1",
    "-X", "group.instance.id=m-3", "-c", "log.level=error", "--describe=yaml")
cli("ops_bad", 0, "--source", "kafka:e", "--key", "/k", "-X", "bootstrap.servers=h:1", "--http", "nowhere",
    "--log-level", "loud")
cli("instance_kinesis", 0, "--source", "kinesis:s", "--key", "/k", "--instance-id", "m-1")
cli("describe_bad", 1, "--describe=xml")


# ---- conf: byte 0 (> 0xf0: inject an allocation failure at byte 1), then
# NUL-separated name, value pairs
def conf(name, *kv, fail=None):
    head = bytes([0xff, fail]) if fail is not None else b"\0\0"
    write("conf", name, head + b"\0".join(s.encode() for s in kv))


conf("ints", "batch.max.events", "100", "batch.max.bytes", "64k", "batch.max.bytes", "5M",
     "batch.max.events", " +7")
conf("range", "batch.max.events", "0", "batch.max.events", "99999999999999999999",
     "batch.max.bytes", "9223372036854775807k")
conf("bools_and_strings", "processor.name", "orders", "source.format", "json",
     "processor.name", "\u00e9t\u00e9")
conf("passthrough", "kafka.bootstrap.servers", "h:9092", "kinesis.endpoint", "http://x", "kafka.", "v",
     "kinesis.endpoint", "")
conf("unknown", "nope", "1", "", "", "batch", "1")
conf("oom", "kafka.a", "b", "kafka.c", "d", "processor.name", "p", fail=1)
# The Kinesis connector's typed rows: any other kinesis.* name is unknown
# (the target once saw none of them and took every kinesis.* as pass-through)
conf("kinesis_rows", "kinesis.foo", "x", "kinesis.records.limit", "0", "kinesis.records.limit", "5k",
     "kinesis.iterator", "LATEST", "kinesis.lease.failover.ms", "299", "kinesis.", "v")
# Unset after set: the default again, a pass-through one gone, an unknown one refused
conf("unset", "batch.max.events", "7", "kafka.linger.ms", "5", "processor.name", "p",
     "http.listen", "127.0.0.1:0", "nope", "1")


# ---- headers: (name index, value length, value)*; names: 0 ce_type, 1 ce_id,
# 2 ce_partitionkey, 3 ce_time, 4 ce_specversion, 5..7 names to ignore
def hdrs(name, *pairs):
    out = b""
    for idx, v in pairs:
        v = v.encode() if isinstance(v, str) else v
        out += bytes([idx, len(v)]) + v
    write("headers", name, out)


hdrs("binary", (4, "1.0"), (0, "thing-created"), (1, "e-1"), (2, "k-1"), (3, "2026-11-27T05:06:31.123Z"))
hdrs("offsets", (0, "t"), (3, "2026-11-27T05:06:31+05:30"), (3, "1970-01-01t00:00:00.5-00:01"))
hdrs("leap_second", (0, "t"), (3, "2016-12-31T23:59:60Z"))
hdrs("leap_day", (0, "t"), (3, "2024-02-29 12:00:00.123456789z"), (3, "2023-02-29T00:00:00Z"))
hdrs("year_edges", (3, "0000-01-01T00:00:00Z"), (3, "9999-12-31T23:59:59.999+23:59"), (0, "t"))
hdrs("bad_time", (0, "t"), (3, "2026-13-01T00:00:00Z"))
hdrs("bad_forms", (3, "2026-11-27T05:06:31"), (3, "2026-11-27T05:06:31.Z"), (3, "2026-11-27T5:06:31Z"),
     (3, "2026-11-27T05:06:31+0530"), (0, "t"), (3, "2026-11-27T05:06:31+24:00"))
hdrs("empty_type", (0, ""), (1, "x"))
hdrs("repeated", (0, "a"), (1, "1"), (0, "b"), (1, ""), (2, "p"), (2, "q"))
hdrs("not_cloudevents", (5, "t"), (6, "t"), (7, "2026-11-27T05:06:31Z"))
hdrs("binary_values", (0, b"\xff\x00t"), (2, b"\x00"))


# ---- kin_envelope: the bytes after the magic (the target adds it) ----------
def kenv(name, mode, headers, value, key=b""):
    out = bytes([mode])
    if mode == 2:
        out += len(key).to_bytes(4, "big") + key
    out += len(headers).to_bytes(2, "big")
    for n, v in headers:
        out += n + b"\x00" + len(v).to_bytes(4, "big") + v
    write("kin_envelope", name, out + value)


kenv("plain", 0, [], b'{"type":"t"}')
kenv("resubmit", 0, [(b"sluice.resubmit.pipeline", b"pricing"), (b"sluice.resubmit.fault", b"f-1"),
                     (b"sluice.resubmit.run", b"r-1")], b'{"id":"e-1"}')
kenv("inline_key", 2, [(b"h", b"\x00\xff")], b"\x00\x01binary", key=b"\x00bin key")
kenv("no_key", 1, [(b"ce_type", b"")], b"")
write("kin_envelope", "cut_in_header", bytes([0, 0, 2]) + b"name\x00\x00\x00\x00\x09ab")
write("kin_envelope", "bad_mode", bytes([7, 0, 0]) + b"x")
