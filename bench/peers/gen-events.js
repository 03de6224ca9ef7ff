#!/usr/bin/env node
'use strict';

// Writes N events as JSON Lines, shaped like the events bench/bench_batch.c
// builds: aws-lambda-stream events of exactly 327 bytes, 4 types, exactly one
// "thing-updated" in each block of 4 (at a random position), 1000 partition
// keys. Deterministic for a given --seed. For development and for running the
// peers without the C benchmark; the C benchmark's own file is what the
// comparison should use.
//
//   node gen-events.js --events 100000 [--seed 1] [--out FILE]   (default: stdout)

const fs = require('fs');

const TYPES = ['thing-updated', 'order-placed', 'user-signed-up', 'invoice-paid'];
const ACCOUNTS = ['dev', 'stg', 'prod'];
const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1'];
const STATUSES = ['active', 'pending', 'retired'];
const TAGSETS = [['red', 'blue'], ['green'], ['new', 'sale', 'eu'], []];
const LOREM = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do '
  + 'eiusmod tempor incididunt ut labore et dolore magna aliqua ut '
  + 'enim ad minim veniam quis nostrud exercitation ullamco laboris ';
const EVENT_SIZE = 327;
const NKEYS = 1000;
const T0 = 1767225600000; // 2026-01-01T00:00:00Z

function usage(msg) {
  if (msg) process.stderr.write(`gen-events: ${msg}\n`);
  process.stderr.write('usage: node gen-events.js --events N [--seed S] [--out FILE]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const a = { events: 0, seed: 1, out: null };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === '--events') { a.events = Number(v); i++; }
    else if (k === '--seed') { a.seed = Number(v); i++; }
    else if (k === '--out') { a.out = v; i++; }
    else usage(`unknown argument: ${k}`);
  }
  if (!Number.isInteger(a.events) || a.events <= 0) usage('--events must be a positive integer');
  if (!Number.isInteger(a.seed)) usage('--seed must be an integer');
  return a;
}

// mulberry32: small, deterministic 32-bit PRNG
function rng32(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

const hex = (n, w) => n.toString(16).padStart(w, '0').slice(-w);

function main() {
  const a = parseArgs(process.argv.slice(2));
  const rnd = rng32(a.seed);
  const out = a.out ? fs.openSync(a.out, 'w') : 1;
  const perm = [0, 1, 2, 3];
  let chunk = [];
  for (let i = 0; i < a.events; i++) {
    if (i % 4 === 0) {
      for (let j = 3; j > 0; j--) {
        const r = rnd() % (j + 1);
        [perm[j], perm[r]] = [perm[r], perm[j]];
      }
    }
    const r1 = rnd();
    const r2 = rnd();
    const r3 = rnd();
    const r4 = rnd();
    const e = {
      id: `${hex(r1, 8)}-${hex(r2 & 0xffff, 4)}-4${hex((r2 >>> 16) & 0xfff, 3)}-a${hex(r3 & 0xfff, 3)}-${hex(r4, 8)}${hex(r3 >>> 16, 4)}`,
      type: TYPES[perm[i % 4]],
      timestamp: T0 + i * 37,
      partitionKey: `key-${String(r3 % NKEYS).padStart(4, '0')}`,
      tags: { account: ACCOUNTS[r4 % 3], region: REGIONS[(r4 >>> 8) % 3], source: 'sluice-bench' },
      thing: {
        id: `thing-${String(i).padStart(6, '0')}`,
        name: `Thing ${i}`,
        description: '',
        status: STATUSES[(r4 >>> 16) % 3],
        count: r1 % 1000,
        price: ((r2 % 500) * 100 + (r3 % 100)) / 100,
        tags: TAGSETS[(r4 >>> 24) % 4],
      },
    };
    // pad the description so that the line (without its newline) is EVENT_SIZE bytes
    const pad = EVENT_SIZE - Buffer.byteLength(JSON.stringify(e));
    if (pad > 0) {
      const off = r2 % LOREM.length;
      let d = '';
      for (let j = 0; j < pad; j++) d += LOREM[(off + j) % LOREM.length];
      e.thing.description = d;
    }
    chunk.push(JSON.stringify(e));
    if (chunk.length === 4096) {
      fs.writeSync(out, `${chunk.join('\n')}\n`);
      chunk = [];
    }
  }
  if (chunk.length) fs.writeSync(out, `${chunk.join('\n')}\n`);
  if (a.out) fs.closeSync(out);
}

main();
