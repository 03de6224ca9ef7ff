// Compares sluice's and aws-lambda-stream's outputs for the corpus record by
// record and field by field, and checks the differences against
// expected-differences.json: a difference not listed there fails, and so
// does a listed one that no longer happens (the list, and the README table
// made from it, must stay true).
// Numbers are compared by exact decimal value from their JSON text (a small
// parser below keeps the text; JSON.parse would round both sides to doubles
// and hide the very differences this test is about).
// usage: compare.cjs CORPUS SLUICE.jsonl ALS.jsonl EXPECTED.json
'use strict';

const fs = require('fs');

// ---- lossless JSON: numbers as {num: text} ----
function parse(text) {
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\r\n'.includes(text[i])) i += 1; };
  const fail = (m) => { throw new Error(`${m} at ${i}: ${text.slice(i, i + 40)}`); };
  function value() {
    ws();
    const c = text[i];
    if (c === '{') {
      i += 1; const o = {}; ws();
      if (text[i] === '}') { i += 1; return o; }
      for (;;) {
        ws(); const k = str(); ws(); if (text[i] !== ':') fail('expected :'); i += 1;
        o[k] = value(); ws();
        if (text[i] === ',') { i += 1; } else if (text[i] === '}') { i += 1; return o; } else fail('expected , or }');
      }
    }
    if (c === '[') {
      i += 1; const a = []; ws();
      if (text[i] === ']') { i += 1; return a; }
      for (;;) {
        a.push(value()); ws();
        if (text[i] === ',') { i += 1; } else if (text[i] === ']') { i += 1; return a; } else fail('expected , or ]');
      }
    }
    if (c === '"') return str();
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (m) { i += m[0].length; return { num: m[0] }; }
    for (const [w, v] of [['true', true], ['false', false], ['null', null]]) {
      if (text.startsWith(w, i)) { i += w.length; return v; }
    }
    return fail('unexpected');
  }
  function str() {
    const m = /^"(?:[^"\\]|\\.)*"/.exec(text.slice(i));
    if (!m) fail('expected a string');
    i += m[0].length;
    return JSON.parse(m[0]);
  }
  const v = value(); ws();
  if (i !== text.length) fail('trailing text');
  return v;
}

// Exact decimal value of a JSON number text as "sign digits e exponent".
function decimal(t) {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(t);
  let digits = m[2] + (m[3] || '');
  let exp = BigInt(m[4] || '0') - BigInt((m[3] || '').length);
  digits = digits.replace(/^0+/, '');
  if (!digits) return '0';
  const z = /0*$/.exec(digits)[0].length;
  digits = digits.slice(0, digits.length - z);
  exp += BigInt(z);
  return `${m[1]}${digits}e${exp}`;
}

const isNum = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 1 && typeof v.num === 'string';
const show = (v) => JSON.stringify(v, (k, x) => (isNum(x) ? `#${x.num}` : x));

// Differences between a and b under path, as [path, a, b].
function diff(path, a, b, out) {
  if (isNum(a) && isNum(b)) {
    if (decimal(a.num) !== decimal(b.num)) out.push([path, a, b]);
    return;
  }
  const obj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !isNum(v);
  if (obj(a) && obj(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    keys.forEach((k) => diff(path ? `${path}.${k}` : k, a[k], b[k], out));
    return;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    a.forEach((x, j) => diff(`${path}[${j}]`, x, b[j], out));
    return;
  }
  if (show(a) !== show(b)) out.push([path, a, b]);
}

const [corpusFile, sluiceFile, alsFile, expectedFile] = process.argv.slice(2);
const corpus = JSON.parse(fs.readFileSync(corpusFile, 'utf8'));
const lines = (f) => fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map(parse);
const sl = lines(sluiceFile);
const als = lines(alsFile);
const expected = JSON.parse(fs.readFileSync(expectedFile, 'utf8')).differences;
if (sl.length !== corpus.length || als.length !== corpus.length) {
  console.error(`compare: ${corpus.length} records, ${sl.length} sluice lines, ${als.length} aws-lambda-stream lines`);
  process.exit(1);
}

const found = [];
corpus.forEach((r, j) => {
  const s = sl[j];
  const a = als[j];
  if (s.label !== r.label || a.label !== r.label) throw new Error(`line ${j}: labels out of order`);
  // aws-lambda-stream's "filtered" is sluice's "skipped": done, not published.
  if (s.status !== (a.status === 'filtered' ? 'skipped' : a.status)) {
    found.push({ label: r.label, field: 'status', sluice: s.status, als: a.status });
    return;
  }
  if (s.status !== 'event') return;
  const out = [];
  diff('', s.event, a.event, out);
  out.forEach(([p, x, y]) => found.push({ label: r.label, field: p, sluice: show(x), als: show(y) }));
});

const matches = (e, d) => (e.label === '*' || e.label === d.label) && e.field === d.field;
let bad = 0;
found.forEach((d) => {
  const e = expected.find((x) => matches(x, d));
  if (!e) {
    bad += 1;
    console.log(`UNEXPECTED ${d.label} ${d.field}: sluice ${d.sluice} | aws-lambda-stream ${d.als}`);
  } else {
    console.log(`expected   ${d.label} ${d.field} (${e.reason})`);
  }
});
expected.forEach((e) => {
  if (!found.some((d) => matches(e, d))) {
    bad += 1;
    console.log(`GONE       ${e.label} ${e.field}: listed but no longer different (update the list and the README)`);
  }
});
console.log(`compare: ${corpus.length} records, ${found.length} differences, ${bad} unexplained or stale`);
process.exit(bad ? 1 : 0);
