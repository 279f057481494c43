/**
 * `heartbeat.js fail` (src/runtime/commands/fail.ts): how the bootstrap reports a run it could not start.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CLI_EXIT, JOB_ERRORS, MAX_CAUSE_CHARS } from '../../../src/protocol';
import { FakeStepFunctions } from '../../support/fake-sfn';
import { cleanupTmp, cliEnv, requireBundle, runCli, tmpDir, writeTask } from '../harness';

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

