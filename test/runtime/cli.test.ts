/**
 * The bundled runtime's entry (src/runtime/cli.ts): usage errors, --help, and the bundle used as a library.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { BUNDLE, cleanupTmp, cliEnv, requireBundle, runCli, tmpDir } from './harness';
import { CLI_EXIT } from '../../src/protocol';
import * as runtime from '../../src/runtime';
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

test('the bundle exports the API of src/runtime (index.ts), plus main and USAGE', () => {
  const script = `process.stdout.write(JSON.stringify(Object.keys(require(${JSON.stringify(BUNDLE)})).sort()))`;
  const res = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
  expect(res.status).toBe(0);
  expect(JSON.parse(res.stdout)).toEqual([...Object.keys(runtime), 'main', 'USAGE'].sort());
});
