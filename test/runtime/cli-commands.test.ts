/**
 * The bundled runtime's `fail` and `heartbeat` subcommands, usage errors, and the bundle used as a library.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { BUNDLE, cleanupTmp, cliEnv, requireBundle, runCli, tmpDir, writeTask } from './harness';
import { CLI_EXIT, JOB_ERRORS, MAX_CAUSE_CHARS } from '../../src/protocol';
import { FakeStepFunctions } from '../support/fake-sfn';

let sfn: FakeStepFunctions;

beforeAll(async () => {
  requireBundle();
  sfn = new FakeStepFunctions();
  await sfn.start();
});

afterEach(() => sfn.clearFaults());

afterAll(async () => {
  await sfn.dispose();
  cleanupTmp();
});

describe('fail', () => {
  test('reports the given error and cause', async () => {
    const token = sfn.addToken();
    const task = writeTask(tmpDir(), token);
    const res = await runCli(['fail', '--task-file', task, '--error', 'Bootstrap.Failed', '--cause', 'aws s3 cp failed: AccessDenied'], cliEnv(sfn.url));
    expect(res.code).toBe(CLI_EXIT.OK);
    expect(sfn.finalsFor(token)).toEqual([expect.objectContaining({ action: 'SendTaskFailure', error: 'Bootstrap.Failed', cause: 'aws s3 cp failed: AccessDenied' })]);
    expect(sfn.callsFor('SendTaskHeartbeat', token)).toHaveLength(0);
  });

  test('defaults to Bootstrap.Failed; a long --cause-file keeps its tail within MAX_CAUSE_CHARS', async () => {
    const dir = tmpDir();
    const token = sfn.addToken();
    const causeFile = path.join(dir, 'bootstrap.log');
    fs.writeFileSync(causeFile, 'FIRST-LINE\n' + 'log line\n'.repeat(5_000) + 'the real reason\n');
    const res = await runCli(['fail', '--task-file', writeTask(dir, token), '--cause-file', causeFile], cliEnv(sfn.url));
    expect(res.code).toBe(CLI_EXIT.OK);
    const [final] = sfn.finalsFor(token);
    expect(final.error).toBe(JOB_ERRORS.BOOTSTRAP_FAILED);
    expect(final.cause!.length).toBeLessThanOrEqual(MAX_CAUSE_CHARS);
    expect(final.cause!.length).toBeGreaterThan(MAX_CAUSE_CHARS - 100);
    expect(final.cause!.endsWith('the real reason\n')).toBe(true);
    expect(final.cause).not.toContain('FIRST-LINE');
  });

  test('works with only the token in an otherwise broken task document, and with SSP_TASK_TOKEN', async () => {
    const dir = tmpDir();
    const t1 = sfn.addToken();
    const broken = path.join(dir, 'broken.json');
    fs.writeFileSync(broken, JSON.stringify({ taskToken: t1 }));
    expect((await runCli(['fail', '--task-file', broken, '--error', 'E1'], cliEnv(sfn.url))).code).toBe(CLI_EXIT.OK);
    expect(sfn.finalsFor(t1)[0].error).toBe('E1');

    const t2 = sfn.addToken();
    expect((await runCli(['fail', '--error', 'E2', '--cause=c2'], cliEnv(sfn.url, { SSP_TASK_TOKEN: t2 }))).code).toBe(CLI_EXIT.OK);
    expect(sfn.finalsFor(t2)[0]).toMatchObject({ error: 'E2', cause: 'c2' });
  });

  test('on a closed token: exit LOST; on a refused call: exit REPORT_FAILED', async () => {
    const dir = tmpDir();
    const closed = sfn.addToken();
    sfn.timeOutToken(closed);
    const r1 = await runCli(['fail', '--task-file', writeTask(dir, closed)], cliEnv(sfn.url));
    expect(r1.code).toBe(CLI_EXIT.LOST);

    const token = sfn.addToken();
    sfn.injectFault({ action: 'SendTaskFailure', token, fault: 'AccessDeniedException' });
    const r2 = await runCli(['fail', '--task-file', writeTask(dir, token)], cliEnv(sfn.url));
    expect(r2.code).toBe(CLI_EXIT.REPORT_FAILED);
    expect(r2.stderr).toContain('AccessDeniedException');
    // Not retryable: one call only.
    expect(sfn.callsFor('SendTaskFailure', token)).toHaveLength(1);
  });
});

describe('heartbeat', () => {
  test('sends one heartbeat; exit LOST on a timed-out token', async () => {
    const dir = tmpDir();
    const token = sfn.addToken();
    const res = await runCli(['heartbeat', '--task-file', writeTask(dir, token)], cliEnv(sfn.url));
    expect(res.code).toBe(CLI_EXIT.OK);
    expect(sfn.callsFor('SendTaskHeartbeat', token)).toHaveLength(1);
    expect(sfn.tokenState(token)).toBe('open');

    sfn.timeOutToken(token);
    const lost = await runCli(['heartbeat', '--task-file', writeTask(dir, token)], cliEnv(sfn.url));
    expect(lost.code).toBe(CLI_EXIT.LOST);
    expect(lost.stderr).toContain('TaskTimedOut');
  });

  test('an unknown token is lost (InvalidToken)', async () => {
    const res = await runCli(['heartbeat'], cliEnv(sfn.url, { SSP_TASK_TOKEN: 'never-issued' }));
    expect(res.code).toBe(CLI_EXIT.LOST);
    expect(res.stderr).toContain('InvalidToken');
  });
});

describe('usage errors', () => {
  const cases: Array<[string, string[], Record<string, string | undefined>, RegExp]> = [
    ['no command', [], {}, /missing command/],
    ['unknown command', ['start'], {}, /unknown command "start"/],
    ['unknown option', ['run', '--task', 'x', '--', 'true'], {}, /unknown option --task /],
    ['option without value', ['fail', '--error'], {}, /--error needs a value/],
    ['run without a command', ['run', '--task-file', '/tmp/x.json'], {}, /missing the command/],
    ['run without a task', ['run', '--', 'true'], { SSP_TASK_FILE: undefined, SSP_TASK_TOKEN: undefined }, /no task/],
    ['token without heartbeat seconds', ['run', '--', 'true'], { SSP_TASK_TOKEN: 't' }, /--heartbeat-seconds or set SSP_HEARTBEAT_SECONDS/],
    ['bad heartbeat seconds', ['run', '--heartbeat-seconds', 'soon', '--', 'true'], { SSP_TASK_TOKEN: 't' }, /--heartbeat-seconds must be a positive number/],
    ['missing task file', ['run', '--task-file', '/nonexistent/task.json', '--', 'true'], {}, /cannot read task document \/nonexistent\/task.json/],
    ['stray argument to fail', ['fail', 'oops'], { SSP_TASK_TOKEN: 't' }, /unexpected argument "oops"/],
    ['claim-activity without options', ['claim-activity'], {}, /claim-activity: --activity-arn is required/],
    ['claim-activity with a run option', ['claim-activity', '--task-file', 'x'], {}, /unknown option --task-file for "claim-activity"/],
  ];

  test.each(cases)('%s: exit USAGE with a clear message', async (_name, args, env, message) => {
    const res = await runCli(args, cliEnv(sfn.url, env));
    expect(res.code).toBe(CLI_EXIT.USAGE);
    expect(res.stderr).toMatch(message);
    expect(sfn.calls.filter((c) => c.token === 't')).toHaveLength(0);
  });

  test('an invalid task document names the bad field', async () => {
    const dir = tmpDir();
    const file = path.join(dir, 'task.json');
    fs.writeFileSync(file, JSON.stringify({ taskToken: 'x', executionArn: 'a', executionName: 'n', script: 's', args: 'not-an-array', heartbeatSeconds: 3 }));
    const res = await runCli(['run', '--task-file', file, '--', 'true'], cliEnv(sfn.url));
    expect(res.code).toBe(CLI_EXIT.USAGE);
    expect(res.stderr).toContain('"args" must be an array of strings');
    expect(sfn.calls.filter((c) => c.token === 'x')).toHaveLength(0);
  });

  test('--help prints the usage and exits 0', async () => {
    const res = await runCli(['--help'], cliEnv(sfn.url));
    expect(res.code).toBe(CLI_EXIT.OK);
    expect(res.stdout).toContain('heartbeat.js run [--task-file FILE]');
    expect(res.stdout).toContain('heartbeat.js fail');
    expect(res.stdout).toContain('heartbeat.js claim-activity --activity-arn ARN --instance-id IID --bucket BUCKET');
    expect(res.stdout).toContain('SSP_OUTCOME=succeeded or failed');
  });
});

test('require()d, the bundle exports the library API and runs nothing', () => {
  const script = `const m = require(${JSON.stringify(BUNDLE)});
    console.log(JSON.stringify(['TaskReporter', 'runJob', 'readTaskDocument', 'TaskLostError', 'claimActivityTask', 'ActivityClaimError', 'checkJobEnv']
      .map((k) => typeof m[k])));`;
  const res = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
  expect(res.status).toBe(0);
  expect(JSON.parse(res.stdout.trim())).toEqual(Array(7).fill('function'));
  expect(res.stderr).not.toContain('Usage');
  expect(res.stderr).not.toContain('[heartbeat]');
});
