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
    ['--spill-to not an S3 URL', ['run', '--heartbeat-seconds', '5', '--spill-to', 'https://bucket/p/', '--', 'true'], { SSP_TASK_TOKEN: 't' },
      /--spill-to must be s3:\/\/BUCKET\/PREFIX\/, got "https:\/\/bucket\/p\/"/],
    ['--spill-to with a bad bucket name', ['run', '--heartbeat-seconds', '5', '--spill-to', 's3://My_Bucket/p/', '--', 'true'], { SSP_TASK_TOKEN: 't' },
      /--spill-to "My_Bucket" is not an S3 bucket name/],
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

  test('a usage error prints the error and a few lines of usage (the command\'s synopsis), not the whole help', async () => {
    const res = await runCli(['run', '--task', 'x', '--', 'true'], cliEnv(sfn.url));
    expect(res.code).toBe(CLI_EXIT.USAGE);
    const lines = res.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('[heartbeat] error: unknown option --task for "run"');
    expect(lines[1]).toBe('Usage:');
    expect(lines[2]).toMatch(/^ {2}heartbeat\.js run \[--task-file FILE\]/);
    expect(lines.at(-1)).toBe('More: heartbeat.js run --help; everything: heartbeat.js --help; version: heartbeat.js --version');
    expect(lines.length).toBeLessThanOrEqual(6);
    expect(res.stderr).not.toContain('claim-activity');
    expect(res.stderr).not.toContain('Exit codes');
  });

  test('an unknown command lists the commands, with the generic short usage', async () => {
    const res = await runCli(['start'], cliEnv(sfn.url));
    expect(res.code).toBe(CLI_EXIT.USAGE);
    expect(res.stderr).toContain('unknown command "start" (commands: run, fail, heartbeat, claim-activity)');
    expect(res.stderr).toContain('More: heartbeat.js <command> --help;');
    expect(res.stderr.trimEnd().split('\n').length).toBeLessThanOrEqual(4);
  });

  test('<command> --help prints that command, the task document format and the environment, exit 0', async () => {
    const res = await runCli(['fail', '--help'], cliEnv(sfn.url));
    expect(res.code).toBe(CLI_EXIT.OK);
    expect(res.stdout).toContain('heartbeat.js fail [--task-file FILE] [--error NAME]');
    expect(res.stdout).not.toContain('heartbeat.js run ');
    expect(res.stdout).toContain('"taskToken": "AQB...",           required');
    expect(res.stdout).toContain('Exit codes:');
    const activity = await runCli(['claim-activity', '--help'], cliEnv(sfn.url));
    expect(activity.stdout).toContain('heartbeat.js claim-activity --activity-arn ARN');
    expect(activity.stdout).not.toContain('"taskToken"');
  });

  test('--version prints the version of package.json the bundle was built from', async () => {
    const { version } = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8'));
    const res = await runCli(['--version'], cliEnv(sfn.url));
    expect(res.code).toBe(CLI_EXIT.OK);
    expect(res.stdout).toBe(`heartbeat.js ${version}\n`);
  });

  test('a missing Region is reported with a hint naming AWS_REGION', async () => {
    const res = await runCli(['heartbeat'], cliEnv(sfn.url, { SSP_TASK_TOKEN: 'region-less', AWS_REGION: undefined, AWS_DEFAULT_REGION: undefined }));
    expect(res.code).toBe(CLI_EXIT.REPORT_FAILED);
    expect(res.stderr).toContain('could not reach Step Functions: Error: Region is missing (set AWS_REGION, e.g. AWS_REGION=us-east-1)');
  });

  test('--help prints the usage and exits 0', async () => {
    const res = await runCli(['--help'], cliEnv(sfn.url));
    expect(res.code).toBe(CLI_EXIT.OK);
    expect(res.stdout).toContain('heartbeat.js run [--task-file FILE]');
    expect(res.stdout).toContain('heartbeat.js fail');
    expect(res.stdout).toContain('heartbeat.js claim-activity --activity-arn ARN --instance-id IID --bucket BUCKET');
    expect(res.stdout).toContain('SSP_OUTCOME=succeeded or failed');
    // The task document's format, every field of src/protocol's TaskDocument.
    for (const field of ['taskToken', 'executionArn', 'executionName', 'script', 'args', 'heartbeatSeconds', 'env', 'attempt', 'userInput']) {
      expect(res.stdout).toMatch(new RegExp(`^ {4}"${field}": `, 'm'));
    }
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
