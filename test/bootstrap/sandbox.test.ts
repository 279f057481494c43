/**
 * bootstrap/: the user data run with bash in a sandbox (test/support/sandbox.ts), where every command that would touch
 * AWS or the machine is a fake that logs its arguments: the job's files, the runtime calls, every way a run can end,
 * and the AWS sample's userInput. (What staging, job logs and activity mode add runs in their parts' tests.)
 */
import * as fs from 'fs';
import * as path from 'path';
import { renderBootstrap } from '../support/bootstrap';
import {
  BUCKET,
  cleanupSandboxes,
  heartbeatCalls,
  IMDS,
  INSTANCE_ID,
  jobObjects,
  RENDER_OPTIONS,
  RUN_PREFIX,
  RUNTIME_KEY,
  runSandbox,
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

describe('the bootstrap in a sandbox', () => {
  const script = renderBootstrap({ ...RENDER_OPTIONS, heartbeatSeconds: '1' });

  test('runs a job in a folder: hard cap, IMDS, task document, runtime, job files, heartbeat run, log upload, poweroff', () => {
    const r = runSandbox({ script, objects: jobObjects() });
    expect(summary(r)).toEqual([
      'shutdown -P +75 shell-script-pipeline: hard cap reached',
      ...IMDS,
      `aws s3 cp s3://${TASK_KEY} $WORK/task.json`,
      `aws s3 cp s3://${RUNTIME_KEY} $WORK/heartbeat.js`,
      `aws s3 cp --recursive s3://${BUCKET}/jobs/ $WORK/job/jobs/ --exclude pipeline/*`,
      'heartbeat run',
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
    expect(run.slice(run.indexOf('--'))).toEqual(['--', '/bin/bash', '$WORK/job/jobs/nightly.sh']);
    expect(r.cwds).toEqual([path.join(r.work, 'job', 'jobs')]);
    expect(fs.existsSync(path.join(r.work, 'job/jobs/lib/helpers.sh'))).toBe(true);
    expect(fs.existsSync(path.join(r.work, 'job/other'))).toBe(false);
    expect(fs.readFileSync(path.join(r.s3, RUN_PREFIX, 'bootstrap.log'), 'utf8')).toContain('[bootstrap]');
  });

  test('a script at the bucket root gets the whole bucket except pipeline/', () => {
    const r = runSandbox({
      script,
      objects: { ...jobObjects('nightly.sh'), [`${BUCKET}/nightly.sh`]: 'echo root\n', [`${BUCKET}/pipeline/runs/old/x/output.log`]: 'old' },
    });
    expect(summary(r)).toContain(`aws s3 cp --recursive s3://${BUCKET}/ $WORK/job/ --exclude pipeline/*`);
    expect(fs.existsSync(path.join(r.work, 'job/nightly.sh'))).toBe(true);
    expect(fs.existsSync(path.join(r.work, 'job/jobs/lib/helpers.sh'))).toBe(true);
    expect(fs.existsSync(path.join(r.work, 'job/pipeline'))).toBe(false);
    expect(heartbeatCalls(r)[0].slice(-2)).toEqual(['/bin/bash', '$WORK/job/nightly.sh']);
    expect(summary(r).at(-1)).toBe('poweroff');
  });

  test('when the job files cannot be copied: reports Bootstrap.Failed, runs nothing, then powers off', () => {
    const r = runSandbox({ script, objects: jobObjects(), env: { SSP_FAIL_RECURSIVE: '1' } });
    expect(heartbeatCalls(r)).toEqual([
      ['fail', '--task-file', '$WORK/task.json', '--error', 'Bootstrap.Failed', '--cause', `could not copy s3://${BUCKET}/jobs/ to the instance`],
    ]);
    expect(summary(r).slice(-3)).toEqual(['heartbeat fail', `aws s3 cp $WORK/bootstrap.log s3://${RUN_PREFIX}/bootstrap.log`, 'poweroff']);
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

  test('when no task document comes: keeps asking until the wait is over, then powers off without running anything', () => {
    const objects = jobObjects();
    delete objects[TASK_KEY];
    // A 3-second wait: with 1 s, a loaded machine sometimes managed only one fetch before the deadline.
    const r = runSandbox({ script: renderBootstrap({ ...RENDER_OPTIONS, heartbeatSeconds: '3' }), objects });
    const fetches = summary(r).filter((l) => l === `aws s3 cp s3://${TASK_KEY} $WORK/task.json`);
    expect(fetches.length).toBeGreaterThanOrEqual(2);
    expect(heartbeatCalls(r)).toEqual([]);
    expect(summary(r).filter((l) => l.includes('bootstrap.log'))).toEqual([]);
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
    expect(summary(r).slice(-5)).toEqual([
      'heartbeat run',
      `aws s3 cp $WORK/output.log s3://${RUN_PREFIX}/output.log`,
      `aws s3 cp $WORK/output.log s3://${RUN_PREFIX}/output.log`,
      `aws s3 cp $WORK/bootstrap.log s3://${RUN_PREFIX}/bootstrap.log`,
      'poweroff',
    ]);
  });

  test("without Node.js on the image: installs the distribution's package, then runs the job", () => {
    const r = runSandbox({ script, objects: jobObjects(), withNode: false, env: { SSP_DNF_INSTALLS_NODE: '1' } });
    const lines = summary(r);
    expect(lines).toContain('dnf install -y -q nodejs22');
    expect(lines.indexOf('dnf install -y -q nodejs22')).toBeLessThan(lines.indexOf(`aws s3 cp s3://${TASK_KEY} $WORK/task.json`));
    expect(lines.filter((l) => l.startsWith('curl')).every((l) => l.includes('http://169.254.169.254/'))).toBe(true);
    expect(lines).toContain('heartbeat run');
    expect(lines.at(-1)).toBe('poweroff');
  });

  test('the synthesized UserData makes the same calls as the rendered bootstrap', () => {
    const bucket = /BUCKET='([^']*)'/.exec(fromTemplate)![1];
    const runtime = /RUNTIME_URL='s3:\/\/([^']*)'/.exec(fromTemplate)![1];
    const roleId = /ROLE_ID='([^']*)'/.exec(fromTemplate)![1];
    const objects = {
      [`${bucket}/pipeline/tasks/${INSTANCE_ID}.json`]: taskDocument('jobs/nightly.sh'),
      [runtime]: '// heartbeat runtime',
      [`${bucket}/jobs/nightly.sh`]: 'echo nightly\n',
    };
    const rendered = renderBootstrap({ bucketName: bucket, roleId, runtimeUrl: `s3://${runtime}`, jobSeconds: '3600', heartbeatSeconds: '300' });
    const expected = summary(runSandbox({ script: rendered, objects }));
    expect(expected.at(-1)).toBe('poweroff');
    expect(summary(runSandbox({ script: fromTemplate, objects }))).toEqual(expected);
  });
});

describe('the bootstrap in a sandbox: userInput (the AWS sample\'s input)', () => {
  const script = renderBootstrap({ ...RENDER_OPTIONS, heartbeatSeconds: '1' });
  const objects = (userInput: string) => ({ ...jobObjects(), [TASK_KEY]: taskDocumentWith({ script: '', userInput }) });

  test('writes the text to $WORK/job/user-input.sh and runs it; nothing is copied from the bucket', () => {
    const userInput = '#!/bin/bash\necho "hello from userInput"\necho "in $(basename "$PWD")"\n';
    const r = runSandbox({ script, objects: objects(userInput), env: { SSP_RUN_JOB: '1' } });
    expect(fs.readFileSync(path.join(r.work, 'job', 'user-input.sh'), 'utf8')).toBe(userInput);
    expect(fs.readdirSync(path.join(r.work, 'job'))).toEqual(['user-input.sh']);
    const [run] = heartbeatCalls(r);
    expect(run[0]).toBe('run');
    expect(run.slice(run.indexOf('--'))).toEqual(['--', '/bin/bash', '$WORK/job/user-input.sh']);
    expect(r.sidecar('job-status')).toBe('0\n');
    expect(fs.readFileSync(path.join(r.s3, RUN_PREFIX, 'output.log'), 'utf8')).toContain('hello from userInput\nin job\n');
    // Only the task document and the runtime are read from S3; the bucket's other files stay there.
    expect(summary(r).filter((l) => l.startsWith('aws ') && l.includes(' s3://') && !l.includes('s3://job-bucket/pipeline/runs/'))).toEqual([
      `aws s3 cp s3://${TASK_KEY} $WORK/task.json`,
      `aws s3 cp s3://${RUNTIME_KEY} $WORK/heartbeat.js`,
    ]);
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
    expect(summary(r).slice(-3)).toEqual(['heartbeat fail', `aws s3 cp $WORK/bootstrap.log s3://${RUN_PREFIX}/bootstrap.log`, 'poweroff']);
    expect(r.status).not.toBe(0);
  });
});
