// The aws-lambda-stream side of the differential test: the corpus as one
// Lambda DynamoDB Streams event through the library's own fromDynamodb and
// cdc flavor, run by its own initialize/assemble (fault handling included).
// The rule is what a team migrating to sluice-trigger runs today: every
// event type, and a toEvent that puts the image without its storage
// attributes under the entity's name (what sluice-trigger does by default).
// publish adorns the standard tags as the library's publishers do
// (adornStandardTags('event')) and prints, instead of calling EventBridge.
// One JSON line per corpus record:
//   {"label":L,"status":"event","event":E} | {"label":L,"status":"fault","reason":R}
// "filtered" for records that neither published nor faulted, and
// "batch-error" for a record that failed its whole Lambda batch.
'use strict';

Object.assign(process.env, {
  AWS_REGION: 'us-west-2',
  SERVICE: 'my-service',
  ACCOUNT_NAME: 'dev',
  STAGE: 'test',
  AWS_LAMBDA_FUNCTION_NAME: 'my-service-trigger',
});

const fs = require('fs');
const path = require('path');
const lib = path.join(__dirname, 'node_modules', 'aws-lambda-stream', 'lib');
const { fromDynamodb } = require(path.join(lib, 'from', 'dynamodb.js'));
const { cdc } = require(path.join(lib, 'flavors', 'cdc.js'));
const { initialize } = require(path.join(lib, 'pipelines', 'index.js'));
const { adornStandardTags } = require(path.join(lib, 'utils', 'tags.js'));

const STORAGE = ['pk', 'sk', 'discriminator', 'ttl', 'latched', 'awsregion'];
const corpus = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const results = new Map();

const toEvent = (uow) => {
  const img = uow.event.raw.new || uow.event.raw.old || {};
  const entity = { ...img };
  STORAGE.forEach((k) => delete entity[k]);
  return { [uow.event.type.replace(/-[^-]+$/, '')]: entity };
};

const labelOf = (x) => (x && x.record && x.record.label) || undefined;

const publish = () => (s) => s
  .map(adornStandardTags('event'))
  .tap((uow) => {
    if (uow.event && uow.event.type === 'fault') {
      const failed = uow.event.uow || {};
      const label = labelOf(failed);
      if (label) results.set(label, { label, status: 'fault', reason: uow.event.err && uow.event.err.message });
      else process.stderr.write(`als-cdc: a fault without a record: ${JSON.stringify(uow.event.err)}\n`);
      return;
    }
    const label = labelOf(uow);
    results.set(label, { label, status: 'event', event: JSON.parse(JSON.stringify(uow.event)) });
  });

const pipelines = { cdc: (opt) => cdc({ ...opt, eventType: /.*/, toEvent }) };

// One Lambda event per record: a record that makes the library throw
// outside its fault handling fails its whole batch ("batch-error": Lambda
// would retry the batch), and would hide what the others give.
const runOne = (r) => new Promise((resolve) => {
  initialize(pipelines, { publish })
    .assemble(fromDynamodb({ Records: [r] }))
    .collect()
    .toCallback((err) => {
      if (err) results.set(r.label, { label: r.label, status: 'batch-error', reason: String(err.message || err) });
      resolve();
    });
});

(async () => {
  for (const r of corpus) await runOne(r); // eslint-disable-line no-await-in-loop
  corpus.forEach((r) => {
    const out = results.get(r.label) || { label: r.label, status: 'filtered' };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  });
})();
