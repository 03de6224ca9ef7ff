#!/usr/bin/env node
'use strict';

// The Node peers of the sluice benchmarks.
//
//   node peer.js --impl aws-lambda-stream|highland --events FILE [--reps R] [--batch 500]
//                [--records-per-event N]
//
// FILE holds JSON Lines, one aws-lambda-stream event per line. Before any
// timing the events become one Lambda Kinesis event (Records[].kinesis.data =
// base64 of the event JSON, as aws-lambda-stream's toKinesisRecords builds
// it). Each rep then runs, on the same records:
//
//   decode (base64 -> JSON.parse) -> filter type === "thing-updated"
//   -> map to {id, type, ts, key} -> batch(N) -> no-op sink (counts only)
//
// with either aws-lambda-stream 1.0.0 (fromKinesis, filterOnEventType, a map,
// batch, initialize/assemble with its fault handling) or plain highland.
//
// stdout: one JSON line per rep, nothing else:
//   {"impl","rep","events","kept","batches","seconds","events_per_s","peak_rss_kb"}
// seconds runs from the start of the pull (the first record) to the last
// batch the sink sees. peak_rss_kb is process.resourceUsage().maxRSS, the
// process-wide peak so far (it includes building the input).
// --records-per-event N splits the records into Kinesis events of N records
// (Lambda's Kinesis BatchSize is at most 10000), each run through a freshly
// assembled pipeline one after the other, as successive invocations would be;
// the output line then also has "records_per_event". By default all records
// are one event, as the brief for the comparison says.
// Exit status: 0 if every rep kept exactly 25% of the events, in batches of at
// most N; 1 on a count mismatch or a pipeline error; 2 on a usage error.

const fs = require('fs');
const v8 = require('v8');
const vm = require('vm');

const KEEP_TYPE = 'thing-updated';
const IMPLS = ['aws-lambda-stream', 'highland'];

function usage(msg) {
  if (msg) process.stderr.write(`peer.js: ${msg}\n`);
  process.stderr.write('usage: node peer.js --impl aws-lambda-stream|highland --events FILE [--reps R] [--batch 500] [--records-per-event N]\n');
  process.exit(2);
}

function fail(msg) {
  process.stderr.write(`peer.js: FAIL: ${msg}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const a = {
    impl: null, events: null, reps: 1, batch: 500, perEvent: 0,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === '-h' || k === '--help') usage();
    if (v === undefined) usage(`${k} needs a value`);
    if (k === '--impl') a.impl = v;
    else if (k === '--events') a.events = v;
    else if (k === '--reps') a.reps = Number(v);
    else if (k === '--batch') a.batch = Number(v);
    else if (k === '--records-per-event') a.perEvent = Number(v);
    else usage(`unknown argument: ${k}`);
    i++;
  }
  if (!IMPLS.includes(a.impl)) usage(`--impl must be one of: ${IMPLS.join(', ')}`);
  if (!a.events) usage('--events FILE is required');
  if (!Number.isInteger(a.reps) || a.reps < 1) usage('--reps must be a positive integer');
  if (!Number.isInteger(a.batch) || a.batch < 1) usage('--batch must be a positive integer');
  if (!Number.isInteger(a.perEvent) || a.perEvent < 0) usage('--records-per-event must be a positive integer');
  return a;
}

// A full GC between reps (untimed), so that one rep's garbage is not collected
// during the next one.
function getGc() {
  if (typeof global.gc === 'function') return global.gc;
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc');
  } catch (e) {
    return () => {};
  }
}

// ---- input ----------------------------------------------------------------

// Reads the JSON Lines file and builds the Kinesis Lambda event record by
// record with toRecord(event, i), so that the parsed events never all live at
// once. Returns { Records, keep, n, expectedKept }; keep[i] is 1 if record i
// should pass the filter.
function buildInput(file, toRecord) {
  let fd;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    usage(`cannot read ${file}: ${e.message}`);
  }
  const Records = [];
  const keep = [];
  let expectedKept = 0;
  let lineNo = 0;
  const onLine = (line) => {
    lineNo++;
    const t = line.trim();
    if (t === '') return;
    let e;
    try {
      e = JSON.parse(t);
    } catch (err) {
      fail(`${file}:${lineNo}: not JSON: ${err.message}`);
    }
    if (e === null || typeof e !== 'object' || typeof e.type !== 'string') {
      fail(`${file}:${lineNo}: not an event object with a string "type"`);
    }
    keep.push(e.type === KEEP_TYPE ? 1 : 0);
    if (e.type === KEEP_TYPE) expectedKept++;
    Records.push(toRecord(e, Records.length));
  };
  // Read in 1 MB chunks rather than all at once, so that the file's text and
  // the records built from it are not all in memory together. A line ends at a
  // '\n' byte, which never occurs inside a multi-byte UTF-8 sequence.
  const chunk = Buffer.allocUnsafe(1 << 20);
  let carry = null;
  for (;;) {
    const got = fs.readSync(fd, chunk, 0, chunk.length, null);
    if (got === 0) break;
    let buf = chunk.subarray(0, got);
    if (carry) {
      buf = Buffer.concat([carry, buf]);
      carry = null;
    }
    let start = 0;
    for (let nl = buf.indexOf(10, start); nl >= 0; nl = buf.indexOf(10, start)) {
      onLine(buf.toString('utf8', start, nl));
      start = nl + 1;
    }
    if (start < buf.length) carry = Buffer.from(buf.subarray(start));
  }
  fs.closeSync(fd);
  if (carry) onLine(carry.toString('utf8'));
  return {
    Records, keep, n: Records.length, expectedKept,
  };
}

// The same record aws-lambda-stream's toKinesisRecords() builds for the i-th
// event (its compress() replacer only changes values over 10 KB, which these
// events do not have). Used by the highland peer, which must not load
// aws-lambda-stream.
function plainKinesisRecord(e, i) {
  return {
    eventSource: 'aws:kinesis',
    eventID: `shardId-000000000000:${i}`,
    awsRegion: 'us-west-2',
    kinesis: {
      sequenceNumber: `${i}`,
      data: Buffer.from(JSON.stringify(e)).toString('base64'),
    },
  };
}

// ---- the two pipelines ----------------------------------------------------
// Each returns a function run(kinesisEvent, sink) -> Promise<t0> that builds
// the stream (untimed), then starts the pull and resolves with the start time
// once the stream has ended. sink(batchArray) is called once per batch.

function awsLambdaStreamImpl(batchSize) {
  // Subpath exports of the package ("./*": "./lib/*.js"): the same functions
  // the root entry re-exports, without the root's eager require of every
  // connector (and so of 12 AWS SDK clients; see README.md).
  const { fromKinesis, toKinesisRecords } = require('aws-lambda-stream/from/kinesis');
  const { filterOnEventType } = require('aws-lambda-stream/filters/event');
  const { toBatchUow } = require('aws-lambda-stream/utils/batch');
  const { initialize } = require('aws-lambda-stream/pipelines');

  // A pipeline as aws-lambda-stream applications write them: a rule, and a
  // function from the initialize() options to a stream transform.
  const rule = { id: 'thing-updated-batch', eventType: KEEP_TYPE, batchSize };
  const thingUpdated = (opt) => (s) => s
    .filter((uow) => filterOnEventType(rule, uow))
    .map((uow) => ({
      ...uow,
      out: {
        id: uow.event.id,
        type: uow.event.type,
        ts: uow.event.timestamp,
        key: uow.event.partitionKey,
      },
    }))
    .batch(rule.batchSize)
    .map(toBatchUow);
  const PIPELINES = { [rule.id]: thingUpdated };
  // The fault flusher calls opt.publish at the end of the stream; the default
  // publishes to EventBridge. This one passes the (empty) fault stream through.
  const OPTIONS = { publish: () => (s) => s };

  return {
    // toKinesisRecords() for one event, renumbered to its index in the file:
    // the same record toKinesisRecords(allEvents) builds for it.
    toRecord: (e, i) => {
      const r = toKinesisRecords([e]).Records[0];
      r.eventID = `shardId-000000000000:${i}`;
      r.kinesis.sequenceNumber = `${i}`;
      return r;
    },
    run: (kinesisEvent, sink) => new Promise((resolve, reject) => {
      const s = initialize(PIPELINES, OPTIONS)
        .assemble(fromKinesis(kinesisEvent))
        .stopOnError(reject);
      const t0 = process.hrtime.bigint();
      s.each((uow) => {
        // anything but a batch uow (e.g. a fault event) is an error here
        if (!uow || !Array.isArray(uow.batch)) {
          reject(new Error(`unexpected item in the output: ${JSON.stringify(uow).slice(0, 300)}`));
          return;
        }
        sink(uow.batch);
      }).done(() => resolve(t0));
    }),
  };
}

function highlandImpl(batchSize) {
  const _ = require('highland');
  return {
    toRecord: plainKinesisRecord,
    run: (kinesisEvent, sink) => new Promise((resolve, reject) => {
      const s = _(kinesisEvent.Records)
        .map((r) => JSON.parse(Buffer.from(r.kinesis.data, 'base64').toString('utf8')))
        .filter((e) => e.type === KEEP_TYPE)
        .map((e) => ({
          id: e.id, type: e.type, ts: e.timestamp, key: e.partitionKey,
        }))
        .batch(batchSize)
        .stopOnError(reject);
      const t0 = process.hrtime.bigint();
      s.each(sink).done(() => resolve(t0));
    }),
  };
}

// ---- main -------------------------------------------------------------------

async function main() {
  const a = parseArgs(process.argv.slice(2));
  if (process.env.DEBUG) {
    process.stderr.write(`peer.js: warning: DEBUG=${process.env.DEBUG} is set; aws-lambda-stream's debug logging changes the figures\n`);
  }
  const impl = a.impl === 'aws-lambda-stream' ? awsLambdaStreamImpl(a.batch) : highlandImpl(a.batch);
  const gc = getGc();

  const tb = process.hrtime.bigint();
  const input = buildInput(a.events, impl.toRecord);
  const { n, expectedKept } = input;
  if (n === 0) fail(`${a.events}: no events`);
  if (n % 4 !== 0 || expectedKept * 4 !== n) {
    fail(`${a.events}: ${expectedKept} of ${n} events are "${KEEP_TYPE}", not exactly 25%`);
  }
  // The Kinesis event(s), and the batches each one must yield: batch(N) is
  // flushed at the end of every event's stream.
  const per = a.perEvent > 0 ? a.perEvent : n;
  const kinesisEvents = [];
  let expectedBatches = 0;
  for (let i = 0; i < n; i += per) {
    kinesisEvents.push({ Records: input.Records.slice(i, i + per) });
    let k = 0;
    for (let j = i; j < Math.min(i + per, n); j++) k += input.keep[j];
    expectedBatches += Math.ceil(k / a.batch);
  }
  input.Records = null;
  input.keep = null;
  gc();
  process.stderr.write(`peer.js: ${a.impl}: ${n} events (${expectedKept} "${KEEP_TYPE}") in ${kinesisEvents.length} `
    + `Kinesis event(s), input built in ${(Number(process.hrtime.bigint() - tb) / 1e9).toFixed(2)} s, `
    + `rss ${Math.round(process.memoryUsage.rss() / 1024)} kB\n`);

  for (let rep = 1; rep <= a.reps; rep++) {
    let kept = 0;
    let batches = 0;
    let oversize = 0;
    let tLast = 0n;
    const sink = (batch) => {
      batches++;
      kept += batch.length;
      if (batch.length > a.batch || batch.length === 0) oversize++;
      tLast = process.hrtime.bigint();
    };
    let t0;
    try {
      for (const ke of kinesisEvents) {
        // one invocation after the other; the clock starts at the first pull
        const t = await impl.run(ke, sink); // eslint-disable-line no-await-in-loop
        if (t0 === undefined) t0 = t;
      }
    } catch (err) {
      fail(`rep ${rep}: pipeline error: ${err && err.stack ? err.stack : err}`);
    }
    const seconds = batches > 0 ? Number(tLast - t0) / 1e9 : 0;
    const peakRssKb = process.resourceUsage().maxRSS;
    const line = {
      impl: a.impl,
      rep,
      events: n,
      kept,
      batches,
      seconds: Number(seconds.toFixed(6)),
      events_per_s: seconds > 0 ? Math.round(n / seconds) : 0,
      peak_rss_kb: peakRssKb,
    };
    if (a.perEvent > 0) line.records_per_event = a.perEvent;
    process.stdout.write(`${JSON.stringify(line)}\n`);
    if (kept !== expectedKept || kept * 4 !== n) {
      fail(`rep ${rep}: kept ${kept} of ${n} events, expected exactly ${expectedKept} (25%)`);
    }
    if (oversize) fail(`rep ${rep}: ${oversize} batches are empty or larger than ${a.batch}`);
    if (batches !== expectedBatches) {
      fail(`rep ${rep}: ${batches} batches for ${kept} events, expected ${expectedBatches}`);
    }
    gc();
  }
}

main().catch((err) => fail(err && err.stack ? err.stack : String(err)));
