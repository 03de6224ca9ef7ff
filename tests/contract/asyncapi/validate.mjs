#!/usr/bin/env node
// Validates AsyncAPI documents with @asyncapi/parser (a parser we did not
// write): every file named must parse as AsyncAPI 3.0.0 with no diagnostic
// of severity error. Warnings and hints are printed, not counted.
//
// usage: node validate.mjs FILE...
// Prints "FILE: ok (N channels, M operations, K messages)" or each error as
// "FILE: PATH MESSAGE". Exit 0 when every file is valid, 1 otherwise, 2 on
// a usage error.
import fs from "node:fs";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const files = process.argv.slice(2);
if (!files.length) {
  process.stderr.write("usage: node validate.mjs FILE...\n");
  process.exit(2);
}
const parser = new Parser();
let failed = 0;
for (const f of files) {
  let text;
  try {
    text = fs.readFileSync(f, "utf8");
  } catch (e) {
    console.log(`${f}: cannot read: ${e.message}`);
    failed++;
    continue;
  }
  const { document, diagnostics } = await parser.parse(text, { source: f });
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
  for (const d of diagnostics.filter((x) => x.severity !== DiagnosticSeverity.Error))
    process.stderr.write(`${f}: warning: ${d.path.join("/")} ${d.message}\n`);
  if (errors.length || !document) {
    for (const d of errors) console.log(`${f}: ${d.path.join("/")} ${d.message}`);
    if (!errors.length) console.log(`${f}: no document`);
    failed++;
    continue;
  }
  if (document.version() !== "3.0.0") {
    console.log(`${f}: version ${document.version()}, expected 3.0.0`);
    failed++;
    continue;
  }
  console.log(
    `${f}: ok (${document.channels().length} channels, ${document.operations().length} operations, ` +
      `${document.messages().length} messages)`
  );
}
process.exit(failed ? 1 : 0);
