/**
 * runJob (src/runtime/run-job.ts, src/runtime/job-outcome.ts): how each way a job ends is reported, through the bundled
 * runtime (`heartbeat.js run`) and in-process, against the fake Step Functions endpoint.
 */
import * as fs from 'fs';
import * as path from 'path';
import { PassThrough } from 'stream';
import {
  cleanupTmp, cliEnv, FAST_RETRY, finalCalls, logCapture, offlineAwsEnv, requireBundle, runCli, tmpDir, useProcessEnv, writeScript, writeTask,
} from './harness';
import { CLI_EXIT, JOB_ERRORS, OUTPUT_STAGING_FAILED_EXIT, OUTPUT_TAIL_BYTES } from '../../src/protocol';
import { runJob, TaskReporter } from '../../src/runtime';
import { FakeStepFunctions } from '../support/fake-sfn';

let sfn: FakeStepFunctions;
const logs = logCapture();

beforeAll(async () => {
  requireBundle();
  sfn = new FakeStepFunctions();
  await sfn.start();
});
// For the in-process runs.
useProcessEnv(() => ({ ...offlineAwsEnv('us-east-2'), AWS_ENDPOINT_URL_SFN: sfn.url, SSP_SPOT_CHECK: '0' }));

afterEach(() => {
  sfn.clearFaults();
  logs.lines.length = 0;
});

afterAll(async () => {
  await sfn.dispose();
  cleanupTmp();
});

test('exit 0: reports success with the output tail and the result file, forwards output, sets the job environment', async () => {
  const dir = tmpDir();
  const token = sfn.addToken();
  const task = writeTask(dir, token, { args: ['two words', 'last'], heartbeatSeconds: 3 });
  const script = writeScript(dir, [
    'echo "to stdout: $1|$2|$3"',
    'echo "to stderr" >&2',
    'echo "exec=$SSP_EXECUTION_NAME arn=$SSP_EXECUTION_ARN"',
    'sleep 0.45',
    'printf \'{"rows": 42, "file": "%s"}\' "$3" > "$SSP_RESULT_FILE"',
  ].join('\n'));

  const logFile = path.join(dir, 'output.log');
  fs.writeFileSync(logFile, 'earlier content\n');
  // The shape the instance bootstrap uses.
  const res = await runCli(['run', '--task-file', task, '--log-file', logFile, '--', 'bash', script, 'first'], cliEnv(sfn.url));

  expect(res.stderr).toContain('[heartbeat]');
  expect(res.code).toBe(CLI_EXIT.OK);
  // Output is forwarded live to our own stdout/stderr.
  expect(res.stdout).toContain('to stdout: first|two words|last');
  expect(res.stdout).toContain('exec=exec-1 arn=arn:aws:states:eu-west-3:123456789012:execution:Pipeline:exec-1');
  expect(res.stderr).toContain('to stderr');
  // ...and appended to the log file.
  const logged = fs.readFileSync(logFile, 'utf8');
  expect(logged.startsWith('earlier content\nto stdout: first|two words|last\n')).toBe(true);
  expect(logged).toContain('to stderr\n');
  expect(logged).not.toContain('[heartbeat]');

  const finals = sfn.finalsFor(token);
  expect(finals).toHaveLength(1);
  expect(finals[0].action).toBe('SendTaskSuccess');
  expect(finals[0].output).toEqual({
    exitCode: 0,
    durationSeconds: expect.any(Number),
    outputTail: expect.stringContaining('to stdout: first|two words|last'),
    result: { rows: 42, file: 'last' },
  });
  expect(finals[0].output.outputTail).toContain('to stderr');
  expect(finals[0].output.durationSeconds).toBeGreaterThanOrEqual(0.4);
  expect(finalCalls(sfn, token)).toHaveLength(1);

  // The token was claimed (first call is a heartbeat) and heartbeats continued while the job ran.
  const tokenCalls = sfn.calls.filter((c) => c.token === token);
  expect(tokenCalls[0].action).toBe('SendTaskHeartbeat');
  expect(sfn.heartbeatCount(token)).toBeGreaterThanOrEqual(3);
  // Region and credentials came from the standard chain (env), and requests were signed.
  expect(tokenCalls.every((c) => c.signed && c.region === 'eu-west-3')).toBe(true);
});

test('exit 0 without a result file: no result field (an unwritable --log-file only warns)', async () => {
  const dir = tmpDir();
  const token = sfn.addToken();
  const res = await runCli(['run', '--task-file', writeTask(dir, token), '--log-file', '/nonexistent/dir/out.log', '--', 'true'], cliEnv(sfn.url));
  expect(res.code).toBe(CLI_EXIT.OK);
  expect(res.stderr).toContain('cannot open the log file /nonexistent/dir/out.log');
  const [final] = sfn.finalsFor(token);
  expect(final.output).toEqual({ exitCode: 0, durationSeconds: expect.any(Number), outputTail: '' });
});

test('exit 0 with an invalid result file: reports Job.InvalidResult', async () => {
  const dir = tmpDir();
  const token = sfn.addToken();
  const script = writeScript(dir, 'echo working; echo "{not json" > "$SSP_RESULT_FILE"');
  const res = await runCli(['run', '--task-file', writeTask(dir, token), '--', 'bash', script], cliEnv(sfn.url));
  expect(res.code).toBe(CLI_EXIT.JOB_FAILED);
  const [final] = sfn.finalsFor(token);
  expect(final.action).toBe('SendTaskFailure');
  expect(final.error).toBe('Job.InvalidResult');
  const cause = JSON.parse(final.cause!);
  expect(cause).toEqual({ exitCode: 0, durationSeconds: expect.any(Number), message: expect.stringContaining('SSP_RESULT_FILE'), outputTail: 'working\n' });
});

test('non-zero exit: Job.NonZeroExit with the exit code and the last OUTPUT_TAIL_BYTES of output', async () => {
  const dir = tmpDir();
  const token = sfn.addToken();
  // 3 x 4000 bytes of filler (with a marker at the very start), then a multi-byte tail, then the exit.
  const script = writeScript(dir, [
    'printf "HEAD-MARKER"',
    'for i in 1 2 3; do head -c 4000 /dev/zero | tr "\\0" "x"; done',
    'echo',
    'echo "héllo wörld — last line" >&2',
    'exit 3',
  ].join('\n'));
  const res = await runCli(['run', '--task-file', writeTask(dir, token), '--', 'bash', script], cliEnv(sfn.url));

  expect(res.code).toBe(CLI_EXIT.JOB_FAILED);
  const finals = sfn.finalsFor(token);
  expect(finals).toHaveLength(1);
  expect(finals[0].error).toBe(JOB_ERRORS.NON_ZERO_EXIT);
  const cause = JSON.parse(finals[0].cause!);
  expect(cause.exitCode).toBe(3);
  expect(typeof cause.durationSeconds).toBe('number');
  expect(cause.outputTail.endsWith('héllo wörld — last line\n')).toBe(true);
  expect(cause.outputTail).not.toContain('HEAD-MARKER');
  expect(Buffer.byteLength(cause.outputTail)).toBeLessThanOrEqual(OUTPUT_TAIL_BYTES);
  expect(Buffer.byteLength(cause.outputTail)).toBeGreaterThan(OUTPUT_TAIL_BYTES - 4);
  expect(res.stdout).toContain('HEAD-MARKER');
});

test('exit 1: Job.NonZeroExit naming exit code 1 (the job\'s code, not the runtime\'s own exit 1)', async () => {
  const dir = tmpDir();
  const token = sfn.addToken();
  const res = await runCli(['run', '--task-file', writeTask(dir, token), '--', 'bash', writeScript(dir, 'echo failing\nexit 1')], cliEnv(sfn.url));

  expect(res.code).toBe(CLI_EXIT.JOB_FAILED);
  expect(finalCalls(sfn, token)).toHaveLength(1);
  const [final] = sfn.finalsFor(token);
  expect(final.action).toBe('SendTaskFailure');
  expect(final.error).toBe('Job.NonZeroExit');
  expect(JSON.parse(final.cause!)).toEqual({ exitCode: 1, durationSeconds: expect.any(Number), outputTail: 'failing\n' });
  expect(res.stderr).toContain('the job exited with code 1\n');
});

test('exit 97 (output staging failed) is a Job.NonZeroExit too, and the log says what 97 means', async () => {
  const dir = tmpDir();
  const token = sfn.addToken();
  const res = await runCli(['run', '--task-file', writeTask(dir, token), '--', 'bash', '-c', `exit ${OUTPUT_STAGING_FAILED_EXIT}`], cliEnv(sfn.url));

  expect(res.code).toBe(CLI_EXIT.JOB_FAILED);
  const [final] = sfn.finalsFor(token);
  expect(final.error).toBe(JOB_ERRORS.NON_ZERO_EXIT);
  expect(JSON.parse(final.cause!).exitCode).toBe(97);
  expect(res.stderr).toContain('the job exited with code 97 (the exit status the bootstrap gives a job whose output could not be staged out)');
});

test('killed by a signal: Job.Killed with the signal name', async () => {
  const dir = tmpDir();
  const token = sfn.addToken();
  const res = await runCli(['run', '--task-file', writeTask(dir, token), '--', 'bash', '-c', 'echo going down; kill -KILL $$'], cliEnv(sfn.url));
  expect(res.code).toBe(CLI_EXIT.JOB_FAILED);
  const [final] = sfn.finalsFor(token);
  expect(final.error).toBe(JOB_ERRORS.KILLED);
  expect(JSON.parse(final.cause!)).toEqual({ signal: 'SIGKILL', durationSeconds: expect.any(Number), outputTail: 'going down\n' });
  expect(finalCalls(sfn, token)).toHaveLength(1);
});

test('command not found: Job.StartFailed (ENOENT)', async () => {
  const dir = tmpDir();
  const token = sfn.addToken();
  const res = await runCli(['run', '--task-file', writeTask(dir, token), '--', '/nonexistent/bin/job', 'x'], cliEnv(sfn.url));
  expect(res.code).toBe(CLI_EXIT.JOB_FAILED);
  const [final] = sfn.finalsFor(token);
  expect(final.error).toBe(JOB_ERRORS.START_FAILED);
  const cause = JSON.parse(final.cause!);
  expect(cause).toMatchObject({ command: '/nonexistent/bin/job', code: 'ENOENT' });
  expect(finalCalls(sfn, token)).toHaveLength(1);
});

test('command not executable: Job.StartFailed (EACCES)', async () => {
  const dir = tmpDir();
  const token = sfn.addToken();
  const file = path.join(dir, 'not-executable.sh');
  fs.writeFileSync(file, '#!/bin/bash\necho hi\n', { mode: 0o644 });
  const res = await runCli(['run', '--task-file', writeTask(dir, token), '--', file], cliEnv(sfn.url));
  expect(res.code).toBe(CLI_EXIT.JOB_FAILED);
  const [final] = sfn.finalsFor(token);
  expect(final.error).toBe(JOB_ERRORS.START_FAILED);
  expect(JSON.parse(final.cause!).code).toBe('EACCES');
});

test('token already timed out when the runtime starts: the job never runs, exit LOST, nothing reported', async () => {
  const dir = tmpDir();
  const token = sfn.addToken();
  sfn.timeOutToken(token);
  const marker = path.join(dir, 'ran');
  const res = await runCli(['run', '--task-file', writeTask(dir, token), '--', 'touch', marker], cliEnv(sfn.url));
  expect(res.code).toBe(CLI_EXIT.LOST);
  expect(fs.existsSync(marker)).toBe(false);
  expect(finalCalls(sfn, token)).toHaveLength(0);
  expect(res.stderr).toContain('TaskTimedOut');
});

describe('the task document\'s env and attempt', () => {
  test('the job sees the env variables on top of the process env; SSP_* always win; attempt sets SSP_ATTEMPT', async () => {
    const dir = tmpDir();
    const token = sfn.addToken();
    const task = writeTask(dir, token, {
      env: { GREETING: 'hello world', EMPTY: '', HOME: '/from/task', SSP_EXECUTION_NAME: 'spoofed', SSP_ATTEMPT: '99' },
      attempt: 3,
    });
    const script = writeScript(dir, 'echo "$GREETING|${EMPTY-unset}|$HOME|$SSP_EXECUTION_NAME|$SSP_ATTEMPT|$FROM_PROCESS"');
    const res = await runCli(['run', '--task-file', task, '--', 'bash', script], cliEnv(sfn.url, { FROM_PROCESS: 'kept' }));
    expect(res.code).toBe(CLI_EXIT.OK);
    expect(sfn.finalsFor(token)[0].output.outputTail).toBe('hello world||/from/task|exec-1|3|kept\n');
  });

  test('without attempt (and env) in the document, SSP_ATTEMPT is not set', async () => {
    const dir = tmpDir();
    const token = sfn.addToken();
    const res = await runCli(['run', '--task-file', writeTask(dir, token), '--', 'bash', '-c', 'echo "[${SSP_ATTEMPT-unset}]"'], cliEnv(sfn.url));
    expect(res.code).toBe(CLI_EXIT.OK);
    expect(sfn.finalsFor(token)[0].output.outputTail).toBe('[unset]\n');
  });

  test.each([
    ['a bad name', { 'GOOD': 'x', '1BAD': 'y' }, '1BAD', /env name "1BAD" is not a valid environment variable name/],
    ['a name with a dash', { 'MY-VAR': 'y' }, 'MY-VAR', /env name "MY-VAR" is not a valid/],
    ['a non-string value', { COUNT: 3 }, 'COUNT', /env value of COUNT must be a string, got a number/],
    ['a NUL in a value', { NUL: 'a\u0000b' }, 'NUL', /env value of NUL contains a NUL character/],
    ['an array instead of an object', ['A=1'], undefined, /"env" must be an object of string values, got an array/],
  ])('%s: Job.InvalidEnv after claiming the token, the job never runs', async (_name, env, badName, message) => {
    const dir = tmpDir();
    const token = sfn.addToken();
    const marker = path.join(dir, 'ran');
    const task = path.join(dir, 'task.json');
    fs.writeFileSync(task, JSON.stringify({
      taskToken: token, executionArn: 'arn:aws:states:eu-west-3:123456789012:execution:P:e', executionName: 'e', script: 'jobs/a.sh', args: [], heartbeatSeconds: 5, env,
    }));
    const res = await runCli(['run', '--task-file', task, '--', 'touch', marker], cliEnv(sfn.url));

    expect(res.code).toBe(CLI_EXIT.JOB_FAILED);
    expect(fs.existsSync(marker)).toBe(false);
    const calls = sfn.callsFor(undefined, token);
    expect(calls.map((c) => c.action)).toEqual(['SendTaskHeartbeat', 'SendTaskFailure']);
    const [final] = sfn.finalsFor(token);
    expect(final.error).toBe(JOB_ERRORS.INVALID_ENV);
    const cause = JSON.parse(final.cause!);
    expect(cause.message).toMatch(message);
    expect(cause.name).toBe(badName);
    // Values are never echoed: they may be secrets.
    expect(final.cause).not.toContain('"y"');
    expect(res.stderr).toMatch(message);
  });
});

describe('the job\'s arguments in the log (they are the execution input\'s and may hold secrets)', () => {
  const secretArgs = ['--password=hunter2', 'two words'];

  test('by default only their number is logged; the job still gets them', async () => {
    const dir = tmpDir();
    const token = sfn.addToken();
    const script = writeScript(dir, 'echo "got $# args: $1|$2"');
    const res = await runCli(['run', '--task-file', writeTask(dir, token, { args: secretArgs }), '--', 'bash', script], cliEnv(sfn.url));

    expect(res.code).toBe(CLI_EXIT.OK);
    expect(sfn.finalsFor(token)[0].output.outputTail).toBe('got 2 args: --password=hunter2|two words\n');
    expect(res.stderr).toContain(`starting bash ${script} with 2 arguments from the task (not logged; set SSP_LOG_ARGS=1 to log them)\n`);
    expect(res.stderr).not.toContain('hunter2');
    expect(res.stderr).not.toContain('two words');

    const one = sfn.addToken();
    const single = await runCli(['run', '--task-file', writeTask(dir, one, { args: ['x'] }), '--', 'true'], cliEnv(sfn.url));
    expect(single.stderr).toContain('starting true with 1 argument from the task (not logged;');
    const none = sfn.addToken();
    const noArgs = await runCli(['run', '--task-file', writeTask(dir, none), '--', 'true', 'from-cli'], cliEnv(sfn.url));
    expect(noArgs.stderr).toContain('starting true from-cli\n');
  });

  test.each([
    ['the runtime\'s environment', { SSP_LOG_ARGS: '1' }, {}],
    ['the task document\'s env', {}, { SSP_LOG_ARGS: '1' }],
  ])('SSP_LOG_ARGS=1 in %s logs them, quoted', async (_where, processEnv, taskEnv) => {
    const dir = tmpDir();
    const token = sfn.addToken();
    const script = writeScript(dir, 'true');
    const res = await runCli(
      ['run', '--task-file', writeTask(dir, token, { args: secretArgs, env: taskEnv }), '--', 'bash', script],
      cliEnv(sfn.url, processEnv),
    );
    expect(res.code).toBe(CLI_EXIT.OK);
    expect(res.stderr).toContain(`starting bash ${script} --password=hunter2 'two words'\n`);
  });

  test('SSP_LOG_ARGS other than 1 logs only the number', async () => {
    const dir = tmpDir();
    const token = sfn.addToken();
    const res = await runCli(['run', '--task-file', writeTask(dir, token, { args: secretArgs }), '--', 'true'], cliEnv(sfn.url, { SSP_LOG_ARGS: 'yes' }));
    expect(res.stderr).toContain('starting true with 2 arguments from the task');
    expect(res.stderr).not.toContain('hunter2');
  });
});

describe('runJob (in-process)', () => {
  test('forwards output to the given streams and returns the outcome', async () => {
    const token = sfn.addToken();
    const out = new PassThrough();
    const err = new PassThrough();
    let outText = '';
    let errText = '';
    out.on('data', (d) => (outText += d));
    err.on('data', (d) => (errText += d));
    const result = await runJob({
      task: { taskToken: token, heartbeatSeconds: 1, args: ['from-task'] },
      command: 'bash',
      args: ['-c', 'echo "out $1"; echo err >&2; sleep 0.25; echo 7 > "$SSP_RESULT_FILE"', 'job'],
      heartbeatIntervalMs: 50,
      stdout: out,
      stderr: err,
      log: logs.log,
      handleSignals: false,
    });
    expect(result).toMatchObject({ outcome: 'succeeded', exitCode: CLI_EXIT.OK, jobExitCode: 0 });
    expect(result.output).toMatchObject({ exitCode: 0, result: 7 });
    expect(outText).toBe('out from-task\n');
    expect(errText).toBe('err\n');
    expect(sfn.heartbeatCount(token)).toBeGreaterThanOrEqual(3);
    expect(process.listenerCount('SIGTERM')).toBe(0);
  });

  test('a final result that cannot be delivered: report-failed (exit REPORT_FAILED); a closed token: lost', async () => {
    const quiet = { stdout: new PassThrough(), stderr: new PassThrough(), log: logs.log, handleSignals: false };
    const t1 = sfn.addToken();
    sfn.injectFault({ action: 'SendTaskSuccess', token: t1, times: Infinity, fault: 503 });
    const r1 = await runJob({ ...quiet, task: { taskToken: t1, heartbeatSeconds: 1 }, command: 'true', reporter: new TaskReporter({ taskToken: t1, retry: FAST_RETRY, log: logs.log }) });
    expect(r1).toMatchObject({ outcome: 'report-failed', exitCode: CLI_EXIT.REPORT_FAILED, jobExitCode: 0 });
    expect(sfn.callsFor('SendTaskSuccess', t1)).toHaveLength(FAST_RETRY.maxAttempts);

    const t2 = sfn.addToken();
    sfn.injectFault({ action: 'SendTaskFailure', token: t2, fault: 'TaskTimedOut' });
    const r2 = await runJob({ ...quiet, task: { taskToken: t2, heartbeatSeconds: 1 }, command: 'false' });
    expect(r2).toMatchObject({ outcome: 'lost', exitCode: CLI_EXIT.LOST, lostReason: 'TaskTimedOut' });
    expect(sfn.finalsFor(t2)).toHaveLength(0);
  });

  test('a token that cannot be used at all (non-retryable error on the claim): the job never starts', async () => {
    const token = sfn.addToken();
    const marker = path.join(tmpDir(), 'ran');
    sfn.injectFault({ action: 'SendTaskHeartbeat', token, fault: 'AccessDeniedException' });
    const result = await runJob({
      task: { taskToken: token, heartbeatSeconds: 1 },
      command: 'touch',
      args: [marker],
      stdout: new PassThrough(),
      stderr: new PassThrough(),
      log: logs.log,
      handleSignals: false,
    });
    expect(result).toMatchObject({ outcome: 'report-failed', exitCode: CLI_EXIT.REPORT_FAILED });
    expect(fs.existsSync(marker)).toBe(false);
    expect(sfn.callsFor(undefined, token)).toHaveLength(1);
  });

  test('an oversized result is refused as Job.InvalidResult', async () => {
    const token = sfn.addToken();
    const result = await runJob({
      task: { taskToken: token, heartbeatSeconds: 1 },
      command: 'bash',
      args: ['-c', 'printf "\\"%s\\"" "$(head -c 300000 /dev/zero | tr "\\0" a)" > "$SSP_RESULT_FILE"'],
      stdout: new PassThrough(),
      stderr: new PassThrough(),
      log: logs.log,
      handleSignals: false,
    });
    expect(result).toMatchObject({ outcome: 'failed', exitCode: CLI_EXIT.JOB_FAILED, error: 'Job.InvalidResult' });
    expect(JSON.parse(sfn.finalsFor(token)[0].cause!).message).toMatch(/at most 262144/);
  });
});

describe('fan-out: the task document\'s shard', () => {
  test('the job sees SSP_SHARD_INDEX, SSP_SHARD_COUNT and SSP_SHARD (the bundled CLI); the shard wins over env', async () => {
    const dir = tmpDir();
    const token = sfn.addToken();
    const task = writeTask(dir, token, { shard: { index: 2, count: 5, value: 'part 2' }, env: { SSP_SHARD_INDEX: 'spoofed' } });
    const script = writeScript(dir, 'echo "$SSP_SHARD_INDEX/$SSP_SHARD_COUNT/$SSP_SHARD"');
    const res = await runCli(['run', '--task-file', task, '--', 'bash', script], cliEnv(sfn.url));
    expect(res.code).toBe(CLI_EXIT.OK);
    expect(sfn.finalsFor(token)[0].output.outputTail).toBe('2/5/part 2\n');
  });

  test('an empty shard (a run that is not part of a fan-out) sets none of them', async () => {
    const dir = tmpDir();
    const token = sfn.addToken();
    const task = writeTask(dir, token, { shard: {} });
    const res = await runCli(['run', '--task-file', task, '--', 'bash', '-c', 'echo "[${SSP_SHARD_INDEX-unset}${SSP_SHARD-unset}]"'], cliEnv(sfn.url));
    expect(res.code).toBe(CLI_EXIT.OK);
    expect(sfn.finalsFor(token)[0].output.outputTail).toBe('[unsetunset]\n');
  });
});
