/**
 * `heartbeat.js heartbeat` (src/runtime/commands/heartbeat.ts): one heartbeat for the task.
 */
import { CLI_EXIT } from '../../../src/protocol';
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

