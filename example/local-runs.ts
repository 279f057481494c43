/**
 * Runs the example pipeline locally, after `example/app.ts` synthesized it: one run whose script succeeds and one
 * whose script fails, with the package's own command (assets/local/cli/index.js, `npx shell-script-pipeline local`).
 * The failing run is expected: this exits 0 only when the first run SUCCEEDED (exit 0) and the second FAILED (exit 1).
 */
import { spawnSync } from 'child_process';
import * as path from 'path';

const root = path.join(__dirname, '..');
const cli = path.join(root, 'assets', 'local', 'cli', 'index.js');
const template = path.relative(process.cwd(), path.join(__dirname, 'cdk.out', 'NightlyShellJobs.template.json'));
const bucketDir = path.relative(process.cwd(), path.join(__dirname, 'bucket'));

const runs = [
  { title: 'a script that succeeds', input: { script: 'jobs/nightly.sh', args: ['2026-01-01'] }, name: 'example-ok', expected: 0 },
  { title: 'a script that fails (expected)', input: { script: 'jobs/broken.sh' }, name: 'example-broken', expected: 1 },
];

let ok = true;
for (const run of runs) {
  const args = ['local', '--template', template, '--pipeline', 'Nightly', '--bucket-dir', bucketDir, '--input', JSON.stringify(run.input), '--name', run.name];
  console.log(`\n=== Local run: ${run.title}\n$ npx shell-script-pipeline ${args.map((a) => (/^[\w./-]+$/.test(a) ? a : `'${a}'`)).join(' ')}\n`);
  const r = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit' });
  const verdict = r.status === run.expected ? 'as expected' : `expected ${run.expected}`;
  console.log(`=== exit status ${r.status} (${verdict})`);
  ok &&= r.status === run.expected;
}
if (!ok) {
  console.error('A local run did not end as expected.');
  process.exit(1);
}
console.log('\nBoth local runs ended as expected: one SUCCEEDED (exit 0), one FAILED (exit 1).');
