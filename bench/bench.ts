/**
 * Size and speed figures, printed, never asserted (`npm run bench`).
 *
 * - synth: time to build and synthesize one stack holding one pipeline (median of 5);
 * - template: size and resource count; state machine definition size (Step Functions allows 1 MB);
 * - user data: the bootstrap's size against EC2's 16 KB user-data limit;
 * - bootstrap: from its start to the job's first line, run in the test sandbox, where every AWS call, the package
 *   install and the runtime are local fakes (median of 5), so what remains is the bootstrap's own cost (bash,
 *   python3, node -e) and the boot phases between;
 * - runtime: bundle size (raw and gzip), what the instance downloads at boot;
 * - runtime on the wire: start-up to first heartbeat, and a whole `true` job, against a local
 *   Step Functions endpoint (median of 5 runs each);
 * - runtime memory: its peak RSS (VmHWM) while a `sleep 2` job runs (median of 3; Linux only).
 * - synth per further pipeline: the marginal synth time of each pipeline after the first in one stack;
 * - addresses: the job subnets' usable addresses in the default VPC;
 * - runtime exit to report: from the job's last line to the success at the endpoint (median of 5);
 * - local load run: N executions at once (SSP_BENCH_EXECUTIONS, default 50) through the real definition, each
 *   instance a real runtime process: wall time and results that crossed (must be 0);
 * - cost per run: the billed state transitions of a typical run and of a run with 100 args, counted by running the
 *   real definitions in the local interpreter, and what they cost (see PRICES).
 * - maxConcurrentJobs: 200 executions of the real run definition against a limit of 10 in the local interpreter, the
 *   semaphore's DynamoDB tasks answered by dynalite, jobs of 20 to 60 ms, Wait states shortened to 500 ms: wall time,
 *   the most instances alive at once, crossed results, and the extra states entered per run.
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ShellScriptPipeline } from '../src';
import { BOOT_PHASES } from '../src/protocol';
import { runLoad } from '../test/e2e/load-run';
import { BUNDLE, measureRuntimePeakRss, offlineAwsEnv } from '../test/runtime/harness';
import { renderBootstrap } from '../test/support/bootstrap';
import { LocalDynamo } from '../test/support/dynamo-local';
import { FakeStepFunctions } from '../test/support/fake-sfn';
import { instanceRolePolicies } from '../test/support/iam';
import { runLocally } from '../test/support/local-sfn';
import { happyHandlers } from '../test/support/run-handlers';
import { BUCKET, cleanupSandboxes, jobObjects, RENDER_OPTIONS, runSandbox } from '../test/support/sandbox';
import { loadRun } from '../test/support/slot-load';
import { definitionOf, runDefinitionOf, synth } from '../test/support/template';
import '../test/support/setup-polyfills';

/**
 * Step Functions prices in us-east-1 and eu-west-1 (https://aws.amazon.com/step-functions/pricing/): Standard "$0.025
 * per 1,000 state transitions", counted "each time a step of your workflow is executed ... including retries";
 * Express "$1.00 per million" requests (AWS Compute Blog, "Building cost-effective AWS Step Functions workflows") and
 * $0.00001667 per GB-second of duration, "rounded up to the nearest 100ms" and "billed in 64-MB chunks".
 */
const PRICES = { transition: 0.025 / 1000, expressRequest: 1 / 1_000_000, expressGbSecond: 0.00001667 };
/** An assumed billed duration of one validation run at 64 MB: generous (its checks are Pass and Choice states). */
const VALIDATION_SECONDS = 1;
/** The AWS sample's successful run: CreateActivity, RunShellScript, Pause, DeleteActivity, TerminateInstances, SNS Publish. */
const SEED_TRANSITIONS = 6;
/** The previous design's figures, from issue 9: every arg and env value cost 2 transitions in a Map. */
const BEFORE = { typical: 33, args100: 226 };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function row(name: string, value: string, note = ''): void {
  console.log(`${name.padEnd(44)} ${value.padStart(14)}  ${note}`);
}

async function main(): Promise<void> {
  // ---- synth ----------------------------------------------------------------------------------
  const times: number[] = [];
  let json: any;
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint();
    const app = new App();
    const stack = new Stack(app, 'Bench', { env: { account: '111111111111', region: 'eu-west-1' } });
    new ShellScriptPipeline(stack, 'Nightly', { notificationEmail: 'ops@example.com' });
    json = Template.fromStack(stack).toJSON();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const templateText = JSON.stringify(json);
  const machines = Object.values<any>(json.Resources).filter((r) => r.Type === 'AWS::StepFunctions::StateMachine');
  const runMachine = definitionOf(json, (id) => id.includes('StateMachine') && !id.includes('Cleanup'));
  const userData = Buffer.from(runMachine.States['Launch instance'].Parameters.UserData, 'base64');

  console.log('figure                                                value  note');
  row('synth one pipeline stack (median of 5)', `${median(times).toFixed(0)} ms`, `first run ${times[0].toFixed(0)} ms`);
  row('template size (compact JSON)', `${templateText.length} B`, `as sent to CloudFormation; the file cdk synth writes is pretty-printed and larger; ${Object.keys(json.Resources).length} resources, ${machines.length} state machines`);
  row('run state machine definition', `${JSON.stringify(runMachine).length} B`, 'Step Functions limit 1 MB');
  row('states in the run definition', `${Object.keys(runMachine.States).length}`);
  row('user data (bootstrap)', `${userData.length} B`, `EC2 limit 16384 B; ${((userData.length / 16384) * 100).toFixed(0)}% used`);

  // ---- marginal synth time per further pipeline in the same stack -------------------------------
  const synthWith = (pipelines: number): number => {
    const t0 = process.hrtime.bigint();
    const stack = new Stack(new App(), 'Bench', { env: { account: '111111111111', region: 'eu-west-1' } });
    for (let p = 0; p < pipelines; p++) new ShellScriptPipeline(stack, `Pipeline${p}`);
    Template.fromStack(stack);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  const one = median([0, 1, 2].map(() => synthWith(1)));
  const four = median([0, 1, 2].map(() => synthWith(4)));
  row('synth, each further pipeline in a stack', `${((four - one) / 3).toFixed(0)} ms`, `median of 3: 1 pipeline ${one.toFixed(0)} ms, 4 pipelines ${four.toFixed(0)} ms`);

  // ---- addresses for job instances in the default VPC ------------------------------------------
  // Every subnet loses 5 addresses to AWS (https://docs.aws.amazon.com/vpc/latest/userguide/subnet-sizing.html).
  const subnets = Object.values<any>(json.Resources).filter((r) => r.Type === 'AWS::EC2::Subnet').map((r) => String(r.Properties.CidrBlock));
  const addresses = subnets.reduce((sum, cidr) => sum + 2 ** (32 - Number(cidr.split('/')[1])) - 5, 0);
  row('addresses for job instances (default VPC)', `${addresses}`, `subnets ${subnets.join(', ')}; target >= 1000`);

  // ---- billed state transitions per run: the real definitions in the local interpreter -------------
  // The typical run of issue 9: a script, 2 args, 1 env var.
  const typical = { script: 'jobs/nightly.sh', args: ['--date', '2026-01-01'], env: { STAGE: 'prod' } };
  const args100 = { ...typical, args: Array.from({ length: 100 }, (_, i) => `arg-${i}`) };
  const expressCost = PRICES.expressRequest + VALIDATION_SECONDS * (64 / 1024) * PRICES.expressGbSecond;
  for (const [label, input, before] of [
    ['typical run', typical, BEFORE.typical],
    ['run, 100 args', args100, BEFORE.args100],
  ] as const) {
    const r = await runLocally(runMachine, input, happyHandlers());
    if (r.status !== 'SUCCEEDED') throw new Error(`${label}: ${r.status} ${r.error}`);
    const transitions = r.events.filter((e) => e.type === 'StateEntered').length;
    const dollars = transitions * PRICES.transition + expressCost;
    row(`billed transitions, ${label}`, `${transitions}`,
      `before: ${before}; the AWS sample: ${SEED_TRANSITIONS}; ` +
      `validation states entered (Express, not billed per state): ${r.nested[0].path.length}`);
    row(`cost, ${label}`, `$${dollars.toFixed(6)}`,
      `${transitions} × $${PRICES.transition} + 1 Express request $${PRICES.expressRequest} + ${VALIDATION_SECONDS} s at 64 MB (assumed); ` +
      `before: $${(before * PRICES.transition).toFixed(6)}; the AWS sample: $${(SEED_TRANSITIONS * PRICES.transition).toFixed(6)}`);
  }

  // ---- bootstrap in the sandbox -----------------------------------------------------------------
  // The job's first line carries its time; the run log's phase lines say where the time went.
  const toFirstLine: number[] = [];
  const phaseTimes: number[][] = [];
  try {
    for (let i = 0; i < 5; i++) {
      const objects = { ...jobObjects(), [`${BUCKET}/jobs/nightly.sh`]: 'echo "first line $(date +%s%3N)"\n' };
      // SSP_SLEEP: the fakes' waits last 2 s, so the background heartbeat loop (every 100 s on an instance) stays quiet.
      const r = runSandbox({ script: renderBootstrap(RENDER_OPTIONS), objects, env: { SSP_RUN_JOB: '1', SSP_SLEEP: '2' } });
      const log = fs.readFileSync(path.join(r.work, 'output.log'), 'utf8');
      const first = /^first line (\d{13})$/m.exec(log);
      if (!first) throw new Error(`the job did not run in the sandbox:\n${r.output}`);
      // From the bootstrap's first line (userdata-start: bash has only set a few variables before it) to the job's.
      const phases = BOOT_PHASES.map((phase) => Number(new RegExp(`^ssp-phase ${phase} (\\d{13})$`, 'm').exec(log)![1]));
      phaseTimes.push(phases);
      toFirstLine.push(Number(first[1]) - phases[0]);
    }
  } finally {
    cleanupSandboxes();
  }
  const steps = BOOT_PHASES.slice(1).map((phase, i) => `${phase} +${median(phaseTimes.map((t) => t[i + 1] - t[i]))}`).join(', ');
  row("bootstrap to the job's first line (sandbox, no network/install)", `${median(toFirstLine)} ms`, `median of 5; ms per phase: ${steps}`);

  // ---- maxConcurrentJobs: 200 executions against a limit of 10 ------------------------------------
  {
    const dynamo = new LocalDynamo();
    await dynamo.start();
    const limited = runDefinitionOf(synth({ maxConcurrentJobs: 10, jobTimeout: Duration.days(1) }));
    const load = await loadRun(dynamo, limited, { executions: 200, waitMs: 500 });
    await dynamo.stop();
    if (load.failures.length > 0) throw new Error(`load run: ${load.failures.length} runs failed, e.g. ${load.failures[0]}`);
    row('semaphore load run: 200 runs, limit 10', `${(load.wallMs / 1000).toFixed(1)} s`,
      'wall time, local interpreter + dynalite, 2 cores; jobs 20-60 ms; waits shortened to 500 ms');
    row('semaphore: most instances alive at once', `${load.maxAlive}`, `limit 10; crossed results ${load.crossed}; alive at the end ${load.aliveAtEnd}`);
    row('semaphore: states entered per run (mean)', `${(load.transitions / 200).toFixed(1)}`,
      `${load.waits} waits for a slot in all; a run that gets a slot at once adds 3 (Queue, Acquire, Release), each wait 5`);
  }

  // ---- runtime bundle ---------------------------------------------------------------------------
  if (!fs.existsSync(BUNDLE)) throw new Error(`missing ${BUNDLE}: run npx projen bundle`);
  const bundle = fs.readFileSync(BUNDLE);
  row('heartbeat runtime bundle', `${bundle.length} B`, `gzip ${zlib.gzipSync(bundle).length} B (downloaded once per run)`);

  // ---- runtime against a local endpoint --------------------------------------------------------
  const fake = new FakeStepFunctions();
  await fake.start();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssp-bench-'));
  const env = {
    PATH: process.env.PATH,
    HOME: dir,
    ...offlineAwsEnv('eu-west-1'),
    AWS_ENDPOINT_URL_SFN: fake.url,
    SSP_SPOT_CHECK: '0',
  };
  const firstHeartbeat: number[] = [];
  const wholeJob: number[] = [];
  const exitToReport: number[] = [];
  for (let i = 0; i < 5; i++) {
    const token = fake.addToken(`bench-${i}`);
    const taskFile = path.join(dir, `task-${i}.json`);
    fs.writeFileSync(
      taskFile,
      JSON.stringify({ taskToken: token, executionArn: 'arn:aws:states:eu-west-1:111111111111:execution:B:b', executionName: 'b', script: 'x', args: [], heartbeatSeconds: 60 }),
    );
    const t0 = Date.now();
    // The job's last act is to write the time; the fake records when the success arrives.
    const exitFile = path.join(dir, `exit-${i}`);
    const job = ['/bin/bash', '-c', `date +%s%3N > ${exitFile}`];
    const child = spawn(process.execPath, [BUNDLE, 'run', '--task-file', taskFile, '--', ...job], { env, stdio: 'ignore' });
    const hb = await fake.waitForCall((c) => c.token === token, 30_000);
    firstHeartbeat.push(hb.time - t0);
    const success = await fake.waitForCall((c) => c.token === token && c.action === 'SendTaskSuccess', 30_000);
    exitToReport.push(success.time - Number(fs.readFileSync(exitFile, 'utf8')));
    await new Promise((r) => child.on('close', r));
    wholeJob.push(Date.now() - t0);
  }
  await fake.stop();
  fs.rmSync(dir, { recursive: true, force: true });
  row('runtime start to first call (median of 5)', `${median(firstHeartbeat)} ms`, 'node start + SDK load + first request');
  row('runtime, whole short job (median of 5)', `${median(wholeJob)} ms`, 'claim, run, report success, exit');
  row('runtime, job exit to report (median of 5)', `${median(exitToReport)} ms`, "from the job's last line to SendTaskSuccess at the endpoint");

  // ---- runtime memory while a job runs ----------------------------------------------------------
  if (fs.existsSync('/proc/self/status')) {
    const peaks: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { vmHwmKib, state } = await measureRuntimePeakRss({ jobSeconds: 2 });
      if (state !== 'succeeded') throw new Error(`the memory run ended ${state}`);
      peaks.push(vmHwmKib);
    }
    const kib = median(peaks);
    row('runtime peak RSS (VmHWM) while a job runs', `${kib} kB`, `${(kib / 1024).toFixed(1)} MiB, median of 3; \`sleep 2\` job, local fakes; target 50 MB`);
    // What no runtime built on Node.js and @aws-sdk/client-sfn can go below: each floor bundled like the runtime
    // (esbuild, node20) and run alone (bench/floors).
    const floors = fs.mkdtempSync(path.join(os.tmpdir(), 'ssp-bench-floor-'));
    try {
      const floor = (name: string): number => {
        const out = path.join(floors, `${name}.js`);
        const build = spawnSync('npx', ['esbuild', '--bundle', path.join(__dirname, 'floors', `${name}.ts`), '--platform=node', '--target=node20',
          '--main-fields=module,main', `--outfile=${out}`, '--log-level=error'], { encoding: 'utf8' });
        if (build.status !== 0) throw new Error(`bundling bench/floors/${name}.ts failed: ${build.stderr}`);
        const runs = [0, 1, 2].map(() => Number(spawnSync(process.execPath, [out], { encoding: 'utf8', env: { PATH: process.env.PATH } }).stdout.trim()));
        return median(runs);
      };
      const nodeFloor = floor('node-http');
      const sdkFloor = floor('sdk-only');
      row('  floor: Node.js, one HTTP request', `${nodeFloor} kB`, `${(nodeFloor / 1024).toFixed(1)} MiB, median of 3`);
      row('  floor: + @aws-sdk/client-sfn, 5 heartbeats', `${sdkFloor} kB`,
        `${(sdkFloor / 1024).toFixed(1)} MiB: the SDK alone adds ${((sdkFloor - nodeFloor) / 1024).toFixed(1)} MiB; the runtime adds ${((kib - sdkFloor) / 1024).toFixed(1)} MiB to that`);
    } finally {
      fs.rmSync(floors, { recursive: true, force: true });
    }
  } else {
    row('runtime peak RSS (VmHWM) while a job runs', 'n/a', 'needs /proc (Linux)');
  }

  // ---- local load run ---------------------------------------------------------------------------
  // N executions at once through the real definition, each instance a real runtime process (test/e2e/load-run.ts).
  const executions = Number(process.env.SSP_BENCH_EXECUTIONS ?? 50);
  const loadFake = new FakeStepFunctions();
  await loadFake.start();
  const loadDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssp-bench-load-'));
  try {
    const load = await runLoad({ executions, definition: runMachine, role: instanceRolePolicies(json), fake: loadFake, work: loadDir });
    row(`local load run, ${executions} executions at once`, `${load.wallMs} ms`,
      `crossed results: ${load.crossed}; reads of another's task refused: ${load.bucket.deniedReads}, allowed: ${load.bucket.crossReads}`);
  } finally {
    await loadFake.stop();
    fs.rmSync(loadDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
