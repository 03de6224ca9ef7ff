#!/usr/bin/env node
// sluice contract validator: checks JSON Lines files against the JSON Schemas
// (draft 2020-12) in schemas/, with ajv — a validator we did not write.
//
// usage: node validate.mjs [-v] --schema-dir DIR
//            [--expect-invalid] SCHEMA_FILE INPUT_FILE
//            [[--expect-invalid] SCHEMA_FILE INPUT_FILE ...]
//
// Every *.json file in DIR is loaded into one Ajv2020 instance (strict mode,
// allErrors, ajv-formats), so $refs between schemas resolve. SCHEMA_FILE names
// the schema to validate INPUT_FILE with: a path to one of those files, or just
// its file name (looked up in DIR). INPUT_FILE holds one JSON document a line;
// blank lines are ignored.
//
// --expect-invalid, placed before a pair, inverts the expectation for that pair:
// every document in it must be INVALID (negative tests). A line that is not
// JSON at all is a failure either way: it is a broken file, not a document.
// -v / --verbose also prints why each expected-invalid document was rejected.
//
// Prints one line per failure, "FILE:LINE: INSTANCE_PATH MESSAGE", then a
// closing line "N passed, M failed", where N counts documents that met their
// expectation and M those that did not (plus input files that could not be
// read). Exit status: 0 when M is 0 and at least one document was validated;
// 1 otherwise; 2 on a usage error or a schema that does not load.

import fs from "node:fs";
import path from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const USAGE =
  "usage: node validate.mjs [-v] --schema-dir DIR [--expect-invalid] SCHEMA_FILE INPUT_FILE " +
  "[[--expect-invalid] SCHEMA_FILE INPUT_FILE ...]";

function die(msg, code = 2) {
  process.stderr.write(`validate: ${msg}\n`);
  process.exit(code);
}

function parseArgs(argv) {
  let schemaDir = null;
  let verbose = false;
  let expectInvalid = false;
  const pending = [];
  const pairs = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--schema-dir") {
      if (i + 1 >= argv.length) die(`--schema-dir needs a directory\n${USAGE}`);
      schemaDir = argv[++i];
    } else if (a.startsWith("--schema-dir=")) {
      schemaDir = a.slice("--schema-dir=".length);
    } else if (a === "--expect-invalid") {
      if (pending.length !== 0) die(`--expect-invalid must come before a SCHEMA_FILE INPUT_FILE pair\n${USAGE}`);
      expectInvalid = true;
    } else if (a === "-v" || a === "--verbose") {
      verbose = true;
    } else if (a === "-h" || a === "--help") {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else if (a.startsWith("-") && a !== "-") {
      die(`unknown option ${a}\n${USAGE}`);
    } else {
      pending.push(a);
      if (pending.length === 2) {
        pairs.push({ schema: pending[0], input: pending[1], expectInvalid });
        pending.length = 0;
        expectInvalid = false;
      }
    }
  }
  if (schemaDir === null) die(`--schema-dir is required\n${USAGE}`);
  if (pending.length !== 0) die(`SCHEMA_FILE ${pending[0]} has no INPUT_FILE\n${USAGE}`);
  if (expectInvalid) die(`--expect-invalid is not followed by a SCHEMA_FILE INPUT_FILE pair\n${USAGE}`);
  return { schemaDir, verbose, pairs };
}

// Loads every *.json schema in dir; returns a map from real path to schema key.
function loadSchemas(ajv, dir) {
  let names;
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith(".json")).sort();
  } catch (e) {
    die(`cannot read schema directory ${dir}: ${e.message}`);
  }
  if (names.length === 0) die(`no *.json schemas in ${dir}`);
  const byPath = new Map();
  for (const name of names) {
    const file = path.join(dir, name);
    let schema;
    try {
      schema = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
      die(`cannot load schema ${file}: ${e.message}`);
    }
    const key = typeof schema.$id === "string" ? schema.$id : name;
    try {
      ajv.addSchema(schema, typeof schema.$id === "string" ? undefined : key);
    } catch (e) {
      die(`cannot add schema ${file}: ${e.message}`);
    }
    byPath.set(fs.realpathSync(file), key);
  }
  // Compile all of them now, so that a schema that strict mode rejects, or a
  // $ref that does not resolve, fails loudly even if no input uses it.
  for (const [file, key] of byPath) {
    try {
      if (!ajv.getSchema(key)) die(`schema ${file} did not compile`);
    } catch (e) {
      die(`schema ${file} does not compile: ${e.message}`);
    }
  }
  return byPath;
}

function resolveSchema(ajv, byPath, dir, arg) {
  const candidates = [arg];
  if (!arg.includes("/")) candidates.push(path.join(dir, arg));
  for (const c of candidates) {
    let real;
    try {
      real = fs.realpathSync(c);
    } catch {
      continue;
    }
    const key = byPath.get(real);
    if (key === undefined) die(`schema ${arg} is not one of the *.json files in --schema-dir ${dir}`);
    return ajv.getSchema(key);
  }
  die(`schema ${arg} not found (neither as a path nor in ${dir})`);
}

function describe(err) {
  const where = err.instancePath === "" ? "/" : err.instancePath;
  const params = err.params && Object.keys(err.params).length ? ` ${JSON.stringify(err.params)}` : "";
  return `${where} ${err.message}${params}`;
}

function main() {
  const { schemaDir, verbose, pairs } = parseArgs(process.argv.slice(2));
  if (pairs.length === 0) die(`no SCHEMA_FILE INPUT_FILE pair given\n${USAGE}`);

  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  const byPath = loadSchemas(ajv, schemaDir);

  let passed = 0;
  let failed = 0;
  const out = [];
  for (const pair of pairs) {
    const validate = resolveSchema(ajv, byPath, schemaDir, pair.schema);
    let text;
    try {
      text = fs.readFileSync(pair.input, "utf8");
    } catch (e) {
      out.push(`${pair.input}: cannot read: ${e.message}`);
      failed++;
      continue;
    }
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (line.trim() === "") continue;
      const where = `${pair.input}:${i + 1}`;
      let doc;
      try {
        doc = JSON.parse(line);
      } catch (e) {
        out.push(`${where}: not JSON: ${e.message}`);
        failed++;
        continue;
      }
      const ok = validate(doc);
      if (pair.expectInvalid) {
        if (ok) {
          out.push(`${where}: / valid, but expected invalid`);
          failed++;
        } else {
          if (verbose) for (const err of validate.errors) out.push(`${where}: (rejected as expected) ${describe(err)}`);
          passed++;
        }
      } else if (ok) {
        passed++;
      } else {
        for (const err of validate.errors) out.push(`${where}: ${describe(err)}`);
        failed++;
      }
    }
  }
  if (passed + failed === 0) {
    out.push(`validate: no document validated: the input files (${pairs.map((p) => p.input).join(", ")}) hold only blank lines`);
  }
  out.push(`${passed} passed, ${failed} failed`);
  process.stdout.write(out.join("\n") + "\n");
  process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
}

main();
