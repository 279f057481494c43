/**
 * `heartbeat.js run` (src/runtime/commands/run.ts): where the task comes from, and the --before-report hook.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CLI_EXIT } from '../../../src/protocol';
import { cliEnv, runCli, tmpDir, useBundleWithFakeSfn, writeScript, writeTask } from '../harness';

const sfn = useBundleWithFakeSfn();

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
