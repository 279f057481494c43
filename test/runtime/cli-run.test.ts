/**
 * The bundled runtime (`heartbeat.js run`) against the fake Step Functions endpoint: how each job outcome is reported.
 */
import * as fs from 'fs';
import * as path from 'path';
import { cleanupTmp, cliEnv, requireBundle, runCli, tmpDir, writeScript, writeTask } from './harness';
import { CLI_EXIT, JOB_ERRORS, OUTPUT_TAIL_BYTES } from '../../src/protocol';
import { FakeStepFunctions } from '../support/fake-sfn';

let sfn: FakeStepFunctions;

beforeAll(async () => {
  requireBundle();
  sfn = new FakeStepFunctions();
  await sfn.start();
});

afterAll(async () => {
  await sfn.dispose();
  cleanupTmp();
});

function finalCalls(token: string) {
  return sfn.calls.filter((c) => c.token === token && (c.action === 'SendTaskSuccess' || c.action === 'SendTaskFailure'));
}

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
  expect(finalCalls(token)).toHaveLength(1);

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

test('killed by a signal: Job.Killed with the signal name', async () => {
  const dir = tmpDir();
  const token = sfn.addToken();
  const res = await runCli(['run', '--task-file', writeTask(dir, token), '--', 'bash', '-c', 'echo going down; kill -KILL $$'], cliEnv(sfn.url));
  expect(res.code).toBe(CLI_EXIT.JOB_FAILED);
  const [final] = sfn.finalsFor(token);
  expect(final.error).toBe(JOB_ERRORS.KILLED);
  expect(JSON.parse(final.cause!)).toEqual({ signal: 'SIGKILL', durationSeconds: expect.any(Number), outputTail: 'going down\n' });
  expect(finalCalls(token)).toHaveLength(1);
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
  expect(finalCalls(token)).toHaveLength(1);
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
  expect(finalCalls(token)).toHaveLength(0);
  expect(res.stderr).toContain('TaskTimedOut');
});

test('task token from SSP_TASK_TOKEN + SSP_HEARTBEAT_SECONDS, and task file from SSP_TASK_FILE', async () => {
  const dir = tmpDir();
  const t1 = sfn.addToken();
  const r1 = await runCli(['run', '--', 'bash', '-c', 'echo "[$SSP_EXECUTION_NAME]"'], cliEnv(sfn.url, { SSP_TASK_TOKEN: t1, SSP_HEARTBEAT_SECONDS: '2' }));
  expect(r1.code).toBe(CLI_EXIT.OK);
  expect(sfn.finalsFor(t1)[0].output.outputTail).toBe('[]\n');

  const t2 = sfn.addToken();
  const task = writeTask(dir, t2, { args: ['from-doc'] });
  const r2 = await runCli(['run', 'echo', 'from-cli'], cliEnv(sfn.url, { SSP_TASK_FILE: task }));
  expect(r2.code).toBe(CLI_EXIT.OK);
  expect(sfn.finalsFor(t2)[0].output.outputTail).toBe('from-cli from-doc\n');
});

describe('--before-report (the bootstrap uploads the log with it, before the instance is terminated)', () => {
  test('runs after the log file is complete and before the result is sent, on success and on failure', async () => {
    for (const [body, action] of [
      ['echo last line of a good job', 'SendTaskSuccess'],
      ['echo last line of a bad job; exit 7', 'SendTaskFailure'],
    ] as const) {
      const dir = tmpDir();
      const token = sfn.addToken();
      const logFile = path.join(dir, 'output.log');
      const copy = path.join(dir, 'uploaded.log');
      const stamp = path.join(dir, 'hook-time');
      const hook = `cp '${logFile}' '${copy}' && node -e 'process.stdout.write(String(Date.now()))' > '${stamp}'`;
      const res = await runCli(
        ['run', '--task-file', writeTask(dir, token), '--log-file', logFile, '--before-report', hook, '--', 'bash', writeScript(dir, body)],
        cliEnv(sfn.url),
      );
      expect(res.code).toBe(action === 'SendTaskSuccess' ? CLI_EXIT.OK : CLI_EXIT.JOB_FAILED);
      // The hook saw the whole log...
      expect(fs.readFileSync(copy, 'utf8')).toContain('last line of a');
      // ...and ran before the one final result arrived.
      const [final] = sfn.finalsFor(token);
      expect(final.action).toBe(action);
      expect(Number(fs.readFileSync(stamp, 'utf8'))).toBeLessThanOrEqual(final.time);
    }
  });

  test('a failing hook is logged and the result is still sent', async () => {
    const dir = tmpDir();
    const token = sfn.addToken();
    const res = await runCli(
      ['run', '--task-file', writeTask(dir, token), '--before-report', 'echo upload failed >&2; exit 3', '--', 'true'],
      cliEnv(sfn.url),
    );
    expect(res.code).toBe(CLI_EXIT.OK);
    expect(res.stderr).toMatch(/before the final result failed .*exit code 3.*reporting anyway/);
    expect(sfn.finalsFor(token).map((f) => f.action)).toEqual(['SendTaskSuccess']);
  });

  test('is not run when the task is lost (nothing is reported then)', async () => {
    const dir = tmpDir();
    const token = sfn.addToken();
    const marker = path.join(dir, 'hook-ran');
    const cli = runCli(
      ['run', '--task-file', writeTask(dir, token), '--before-report', `touch '${marker}'`, '--', 'sleep', '30'],
      cliEnv(sfn.url),
    );
    await new Promise((r) => setTimeout(r, 500));
    sfn.timeOutToken(token);
    const res = await cli;
    expect(res.code).toBe(CLI_EXIT.LOST);
    expect(fs.existsSync(marker)).toBe(false);
    expect(sfn.finalsFor(token)).toHaveLength(0);
  });
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

test('--before-report gets SSP_OUTCOME: succeeded or failed (also for Job.InvalidEnv)', async () => {
  for (const [overrides, command, expected] of [
    [{}, ['true'], 'succeeded'],
    [{}, ['false'], 'failed'],
    [{ env: { 'BAD NAME': 'x' } }, ['true'], 'failed'],
  ] as const) {
    const dir = tmpDir();
    const token = sfn.addToken();
    const seen = path.join(dir, 'outcome');
    const res = await runCli(
      ['run', '--task-file', writeTask(dir, token, overrides), '--before-report', `printf %s "$SSP_OUTCOME" > '${seen}'`, '--', ...command],
      cliEnv(sfn.url, { SSP_OUTCOME: 'inherited' }),
    );
    expect(res.code).toBe(expected === 'succeeded' ? CLI_EXIT.OK : CLI_EXIT.JOB_FAILED);
    expect(fs.readFileSync(seen, 'utf8')).toBe(expected);
    expect(sfn.finalsFor(token)[0].state).toBe(expected);
  }
});
