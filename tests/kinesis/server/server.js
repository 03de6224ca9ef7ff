#!/usr/bin/env node
// Kinesis test server for sluice: kinesalite plus a fault-injecting proxy in
// front of it, both on 127.0.0.1 with ephemeral ports. See README.md.
//
// usage: node server.js [--stream NAME[:SHARDS]]... [--port-file PATH]
//                       [--exit-on-stdin-eof]
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const crypto = require('crypto');
const kinesalite = require('kinesalite');
const dynalite = require('dynalite'); // DynamoDB, for the Kinesis lease table

const HOST = '127.0.0.1';
const AMZ_JSON = 'application/x-amz-json-1.1';
const MAX_BODY = 16 * 1024 * 1024; // kinesalite itself answers 413 above 7 MiB
const FAULTED_OPS = ['GetRecords', 'PutRecords', 'PutRecord'];

// ---------------------------------------------------------------- arguments

function usage(msg) {
  process.stderr.write(`server.js: ${msg}\n` +
    'usage: node server.js [--stream NAME[:SHARDS]]... [--port-file PATH] [--exit-on-stdin-eof]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { streams: [], portFile: null, exitOnStdinEof: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--stream') {
      const v = argv[++i];
      if (!v) usage('--stream needs NAME[:SHARDS]');
      const m = /^([a-zA-Z0-9_.-]{1,128})(?::(\d+))?$/.exec(v);
      if (!m || (m[2] !== undefined && Number(m[2]) < 1)) usage(`bad --stream ${v}`);
      opts.streams.push({ name: m[1], shards: m[2] === undefined ? 1 : Number(m[2]) });
    } else if (a === '--port-file') {
      opts.portFile = argv[++i];
      if (!opts.portFile) usage('--port-file needs a path');
    } else if (a === '--exit-on-stdin-eof') {
      opts.exitOnStdinEof = true;
    } else {
      usage(`unknown argument ${a}`);
    }
  }
  return opts;
}

// ------------------------------------------------------------ fault state

// A count is the number of calls a fault still applies to; -1 means "until
// reset". take() consumes one call and says whether the fault fires.
function take(count) {
  if (count === -1) return [true, -1];
  if (count > 0) return [true, count - 1];
  return [false, 0];
}

function emptyFaults() {
  return {
    throttle: { GetRecords: 0, PutRecords: 0, PutRecord: 0 },
    expiredIterator: 0,
    putRecordsFailures: null, // { every, indexes, calls }
    latency: null, // { ms, operations (null = all), calls }
    recordsMissing: null, // { field, every, calls }
  };
}

let faults = emptyFaults();
let stats = {};

function opStats(op) {
  if (!stats[op]) stats[op] = { calls: 0, throttled: 0, expiredIterator: 0, entries: 0, failedEntries: 0 };
  return stats[op];
}

class BadFaults extends Error {}

function count(v, what) {
  if (v === null || v === undefined || v === false) return 0;
  if (v === true) return -1;
  if (!Number.isInteger(v) || v < -1) throw new BadFaults(`${what}: want an integer >= -1`);
  return v;
}

// Apply a POST /__faults body: every key given replaces that fault, keys not
// given are left as they are.
function setFaults(body) {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadFaults('want a JSON object');
  const next = structuredClone(faults);
  for (const key of Object.keys(body)) {
    const v = body[key];
    if (key === 'throttle') {
      if (typeof v !== 'object' || v === null) throw new BadFaults('throttle: want {"GetRecords": N, ...}');
      for (const op of Object.keys(v)) {
        if (!FAULTED_OPS.includes(op)) throw new BadFaults(`throttle: unknown operation ${op}`);
        next.throttle[op] = count(v[op], `throttle.${op}`);
      }
    } else if (key === 'expiredIterator') {
      next.expiredIterator = count(v, 'expiredIterator');
    } else if (key === 'putRecordsFailures') {
      if (v === null) { next.putRecordsFailures = null; continue; }
      if (typeof v !== 'object') throw new BadFaults('putRecordsFailures: want an object or null');
      const every = v.every === undefined ? 0 : v.every;
      const indexes = v.indexes === undefined ? [] : v.indexes;
      if (!Number.isInteger(every) || every < 0) throw new BadFaults('putRecordsFailures.every: want an integer >= 0');
      if (!Array.isArray(indexes) || !indexes.every((i) => Number.isInteger(i) && i >= 0))
        throw new BadFaults('putRecordsFailures.indexes: want an array of integers >= 0');
      if (!every && !indexes.length) throw new BadFaults('putRecordsFailures: give every or indexes');
      next.putRecordsFailures = { every, indexes, calls: v.calls === undefined ? 1 : count(v.calls, 'putRecordsFailures.calls') };
    } else if (key === 'latency') {
      if (v === null || v === 0) { next.latency = null; continue; }
      const spec = typeof v === 'number' ? { ms: v } : v;
      if (typeof spec !== 'object' || !Number.isInteger(spec.ms) || spec.ms < 0)
        throw new BadFaults('latency: want ms (an integer >= 0) or {"ms": N, "operations": [...], "calls": N}');
      const ops = spec.operations === undefined || spec.operations === null ? null : spec.operations;
      if (ops !== null && !(Array.isArray(ops) && ops.every((o) => typeof o === 'string')))
        throw new BadFaults('latency.operations: want an array of operation names');
      next.latency = { ms: spec.ms, operations: ops, calls: spec.calls === undefined ? -1 : count(spec.calls, 'latency.calls') };
    } else if (key === 'recordsMissing') {
      if (v === null) { next.recordsMissing = null; continue; }
      if (typeof v !== 'object' || !['Data', 'SequenceNumber'].includes(v.field))
        throw new BadFaults('recordsMissing: want {"field": "Data"|"SequenceNumber", "every": N, "calls": N}');
      const every = v.every === undefined ? 1 : v.every;
      if (!Number.isInteger(every) || every < 1) throw new BadFaults('recordsMissing.every: want an integer >= 1');
      next.recordsMissing = { field: v.field, every, calls: v.calls === undefined ? 1 : count(v.calls, 'recordsMissing.calls') };
    } else {
      throw new BadFaults(`unknown fault ${key}`);
    }
  }
  faults = next;
}

// Indexes (0-based) of the PutRecords entries to fail, out of n entries.
function selectFailures(spec, n) {
  const sel = new Set();
  if (spec.every) for (let i = spec.every - 1; i < n; i += spec.every) sel.add(i);
  for (const i of spec.indexes) if (i < n) sel.add(i);
  return sel;
}

// --------------------------------------------------------------- proxying

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) { reject(Object.assign(new Error('request body too large'), { status: 413 })); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

function sendJson(res, status, obj, contentType = 'application/json') {
  const body = Buffer.from(JSON.stringify(obj));
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': body.length, 'x-amzn-RequestId': crypto.randomUUID() });
  res.end(body);
}

function kinesisError(res, type, message) {
  sendJson(res, 400, { __type: type, message }, AMZ_JSON);
}

const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'expect', 'upgrade', 'proxy-connection', 'te', 'trailer'];

function stripHopByHop(headers) {
  const out = { ...headers };
  for (const h of HOP_BY_HOP) delete out[h];
  return out;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

// Send req (with body) to kinesalite; resolve to the upstream response,
// still unread.
function forward(upstream, req, body) {
  return new Promise((resolve, reject) => {
    const headers = stripHopByHop(req.headers);
    headers['content-length'] = String(body.length);
    const up = http.request({ host: HOST, port: upstream, method: req.method, path: req.url, headers, agent }, resolve);
    up.on('error', reject);
    up.end(body);
  });
}

function pipeResponse(upRes, res) {
  const headers = stripHopByHop(upRes.headers);
  res.writeHead(upRes.statusCode, headers);
  upRes.pipe(res);
}

async function readAll(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks);
}

function parseJson(buf) {
  try { return JSON.parse(buf.toString('utf8')); } catch { return undefined; }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// PutRecords with selected entries failed: those entries are not sent to
// kinesalite, and failure entries take their places in the response.
async function putRecordsPartial(upstream, req, res, reqJson, failed, st) {
  const n = reqJson.Records.length;
  const failure = () => ({
    ErrorCode: 'ProvisionedThroughputExceededException',
    ErrorMessage: `Rate exceeded for shard in stream ${reqJson.StreamName} under account 000000000000.`,
  });
  st.failedEntries += failed.size;
  const kept = reqJson.Records.filter((_, i) => !failed.has(i));
  if (kept.length === 0) {
    // Nothing to store; kinesalite would reject an empty Records array.
    sendJson(res, 200, { FailedRecordCount: n, Records: reqJson.Records.map(failure) }, AMZ_JSON);
    return;
  }
  const upRes = await forward(upstream, req, Buffer.from(JSON.stringify({ ...reqJson, Records: kept })));
  const upBody = await readAll(upRes);
  const upJson = upRes.statusCode === 200 ? parseJson(upBody) : undefined;
  if (!upJson || !Array.isArray(upJson.Records) || upJson.Records.length !== kept.length) {
    // An error (or something unexpected): pass it through untouched.
    res.writeHead(upRes.statusCode, { ...stripHopByHop(upRes.headers), 'content-length': String(upBody.length) });
    res.end(upBody);
    return;
  }
  const records = [];
  let k = 0;
  for (let i = 0; i < n; i++) records.push(failed.has(i) ? failure() : upJson.Records[k++]);
  const out = { ...upJson, FailedRecordCount: (upJson.FailedRecordCount || 0) + failed.size, Records: records };
  const body = Buffer.from(JSON.stringify(out));
  res.writeHead(200, { ...stripHopByHop(upRes.headers), 'content-length': String(body.length) });
  res.end(body);
}

// GetRecords whose answer loses a field (Data or SequenceNumber) in every
// every-th record; a call counts only when its answer holds records.
async function getRecordsMissing(upstream, req, res, body, st) {
  const upRes = await forward(upstream, req, body);
  const upBody = await readAll(upRes);
  const upJson = upRes.statusCode === 200 ? parseJson(upBody) : undefined;
  const spec = faults.recordsMissing;
  let out = upBody;
  if (spec && upJson && Array.isArray(upJson.Records) && upJson.Records.length > 0) {
    [, spec.calls] = take(spec.calls);
    if (spec.calls === 0) faults.recordsMissing = null;
    for (let i = spec.every - 1; i < upJson.Records.length; i += spec.every) {
      delete upJson.Records[i][spec.field];
      st.recordsMissing = (st.recordsMissing || 0) + 1;
    }
    out = Buffer.from(JSON.stringify(upJson));
  }
  res.writeHead(upRes.statusCode, { ...stripHopByHop(upRes.headers), 'content-length': String(out.length) });
  res.end(out);
}

async function handleKinesis(upstream, req, res) {
  const target = req.headers['x-amz-target'] || '';
  const op = target.includes('.') ? target.slice(target.indexOf('.') + 1) : target || '(none)';
  const st = opStats(op);
  st.calls++;
  const body = await readBody(req);
  const isJson = (req.headers['content-type'] || '').split(';')[0].trim() === AMZ_JSON;
  const reqJson = isJson && ['PutRecords', 'PutRecord', 'GetRecords', 'ListShards', 'GetShardIterator'].includes(op) ? parseJson(body) : undefined;
  const records = op === 'PutRecords' && reqJson && Array.isArray(reqJson.Records) ? reqJson.Records : null;
  if (records) st.entries += records.length;
  // The most records a GetRecords asked for (Limit): what a reader buffers.
  if (op === 'GetRecords' && reqJson && Number.isInteger(reqJson.Limit)) st.maxLimit = Math.max(st.maxLimit || 0, reqJson.Limit);

  // Decide every fault now, before any await, so that concurrent calls each
  // consume exactly one unit of a fault's count.
  let delay = 0;
  const lat = faults.latency;
  if (lat && (lat.operations === null || lat.operations.includes(op))) {
    let fire;
    [fire, lat.calls] = take(lat.calls);
    if (fire) delay = lat.ms;
    if (lat.calls === 0) faults.latency = null;
  }
  let action = null;
  let failed = null;
  if (FAULTED_OPS.includes(op)) {
    let fire;
    [fire, faults.throttle[op]] = take(faults.throttle[op]);
    if (fire) action = 'throttle';
  }
  if (!action && op === 'GetRecords') {
    let fire;
    [fire, faults.expiredIterator] = take(faults.expiredIterator);
    if (fire) action = 'expire';
  }
  const spec = faults.putRecordsFailures;
  if (!action && op === 'PutRecords' && spec && records && records.length > 0) {
    [, spec.calls] = take(spec.calls);
    if (spec.calls === 0) faults.putRecordsFailures = null;
    failed = selectFailures(spec, records.length);
    if (failed.size > 0) action = 'partial';
  }

  if (delay) await sleep(delay);

  // kinesalite never returns a NextToken and crashes on one without a
  // StreamName; answer that here instead.
  if (op === 'ListShards' && reqJson && reqJson.NextToken !== undefined && reqJson.StreamName === undefined) {
    return kinesisError(res, 'InvalidArgumentException',
      'NextToken is not supported by kinesalite (it never returns one); the test proxy refuses it.');
  }
  // kinesalite never answers an AT_TIMESTAMP GetShardIterator when no record
  // of the shard arrived at or after the time (it waits for the first such
  // record, forever). Asked for TRIM_HORIZON instead, it answers at once with
  // the records before the time too, which the service would leave out;
  // sluice's reader skips them by ApproximateArrivalTimestamp, so it reads
  // what it would read from the service.
  if (op === 'GetShardIterator' && reqJson && reqJson.ShardIteratorType === 'AT_TIMESTAMP') {
    st.atTimestamp = (st.atTimestamp || 0) + 1;
    const { Timestamp, ...rest } = reqJson; // eslint-disable-line no-unused-vars
    const fixed = Buffer.from(JSON.stringify({ ...rest, ShardIteratorType: 'TRIM_HORIZON' }));
    return pipeResponse(await forward(upstream, req, fixed), res);
  }
  const stream = reqJson && typeof reqJson.StreamName === 'string' ? ` in stream ${reqJson.StreamName}` : '';
  if (action === 'throttle') {
    st.throttled++;
    return kinesisError(res, 'ProvisionedThroughputExceededException',
      `Rate exceeded for shard${stream} under account 000000000000.`);
  }
  if (action === 'expire') {
    st.expiredIterator++;
    return kinesisError(res, 'ExpiredIteratorException',
      'Iterator expired. The iterator was created more than 300000 milliseconds ago (injected by the test proxy).');
  }
  if (action === 'partial') return putRecordsPartial(upstream, req, res, reqJson, failed, st);
  if (op === 'GetRecords' && faults.recordsMissing) return getRecordsMissing(upstream, req, res, body, st);
  pipeResponse(await forward(upstream, req, body), res);
}

// ------------------------------------------------------------ control API

async function handleControl(req, res) {
  const route = `${req.method} ${req.url.split('?')[0]}`;
  const body = await readBody(req);
  if (route === 'GET /__stats') return sendJson(res, 200, stats);
  if (route === 'GET /__faults') return sendJson(res, 200, faults);
  if (route === 'POST /__reset') {
    faults = emptyFaults();
    stats = {};
    return sendJson(res, 200, { ok: true });
  }
  if (route === 'POST /__faults') {
    const parsed = body.length ? parseJson(body) : {};
    try {
      if (parsed === undefined) throw new BadFaults('body is not JSON');
      setFaults(parsed);
    } catch (e) {
      if (!(e instanceof BadFaults)) throw e;
      return sendJson(res, 400, { error: e.message });
    }
    return sendJson(res, 200, faults);
  }
  return sendJson(res, 404, { error: `no such control endpoint: ${route}` });
}

function proxyServer(upstream) {
  return http.createServer((req, res) => {
    const handler = req.url.startsWith('/__') ? handleControl(req, res) : handleKinesis(upstream, req, res);
    handler.catch((err) => {
      if (err.status !== 413) process.stderr.write(`server.js: proxy: ${err.stack || err}\n`);
      if (!res.headersSent) {
        sendJson(res, err.status || 502, { __type: err.status === 413 ? 'RequestEntityTooLarge' : 'ProxyError', message: String(err.message) });
      } else {
        res.destroy();
      }
    });
  });
}

// -------------------------------------------------------------- start-up

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolve(server.address().port));
  });
}

// One Kinesis call straight to kinesalite (which wants some Authorization
// header and a date, but checks no signature).
function kinesisCall(port, op, payload) {
  return new Promise((resolve, reject) => {
    const body = Buffer.from(JSON.stringify(payload));
    const req = http.request({
      host: HOST, port, method: 'POST', path: '/', agent,
      headers: {
        'Content-Type': AMZ_JSON,
        'Content-Length': body.length,
        'X-Amz-Target': `Kinesis_20131202.${op}`,
        'X-Amz-Date': new Date().toISOString().replace(/[-:]|\.\d+/g, ''),
        Authorization: 'AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=00',
      },
    }, async (res) => {
      const text = (await readAll(res)).toString('utf8');
      if (res.statusCode !== 200) return reject(new Error(`${op} ${JSON.stringify(payload)}: HTTP ${res.statusCode} ${text}`));
      resolve(text ? JSON.parse(text) : {});
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function createStream(port, { name, shards }) {
  await kinesisCall(port, 'CreateStream', { StreamName: name, ShardCount: shards });
  const deadline = Date.now() + 10000;
  for (;;) {
    const d = await kinesisCall(port, 'DescribeStreamSummary', { StreamName: name });
    if (d.StreamDescriptionSummary.StreamStatus === 'ACTIVE') return;
    if (Date.now() > deadline) throw new Error(`stream ${name} not ACTIVE after 10 s`);
    await sleep(10);
  }
}

function writePortFile(file, line) {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, line);
  fs.renameSync(tmp, file);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const kin = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 });
  const kinPort = await listen(kin);
  const proxy = proxyServer(kinPort);
  const proxyPort = await listen(proxy);
  const dyn = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const dynPort = await listen(dyn);

  let stopping = false;
  const stop = (why) => {
    if (stopping) return;
    stopping = true;
    for (const s of [proxy, kin, dyn]) s.closeAllConnections();
    agent.destroy();
    let open = 3;
    const done = () => { if (--open === 0) process.exit(0); };
    proxy.close(done);
    kin.close(done);
    dyn.close(done);
    setTimeout(() => { process.stderr.write(`server.js: forced exit after ${why}\n`); process.exit(0); }, 2000).unref();
  };
  // kinesalite throws from its callbacks on some bad requests (e.g. ListShards
  // with only a NextToken): log it and keep serving; that request gets no answer.
  process.on('uncaughtException', (err) => {
    process.stderr.write(`server.js: uncaught exception (kinesalite bug?), continuing: ${err.stack || err}\n`);
  });
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (opts.exitOnStdinEof) {
    process.stdin.on('end', () => stop('stdin EOF'));
    process.stdin.on('error', () => stop('stdin error'));
    process.stdin.resume();
  }

  for (const s of opts.streams) await createStream(kinPort, s);

  const line = JSON.stringify({ kinesalite: `http://${HOST}:${kinPort}`, proxy: `http://${HOST}:${proxyPort}`,
    dynalite: `http://${HOST}:${dynPort}` }) + '\n';
  if (opts.portFile) writePortFile(opts.portFile, line);
  process.stdout.write(line);
}

main().catch((err) => {
  process.stderr.write(`server.js: ${err.stack || err}\n`);
  process.exit(1);
});
