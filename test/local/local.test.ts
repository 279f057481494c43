/**
 * `shell-script-pipeline local`: the bundled command (assets/local/cli/index.js, the package's bin) run as a child
 * process against a template synthesized to a cloud assembly, the way `cdk synth` leaves it; and its usage errors,
 * through its main function.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { ShellScriptPipeline } from '../../src';
import { HELP, main } from '../../src/local/cli';
import { STATES } from '../../src/workflow/states';
import { requireBundle } from '../runtime/harness';
import { SUCCESS_PATH } from '../support/run-handlers';

const CLI = path.resolve(__dirname, '../../assets/local/cli/index.js');

let dir: string;
let template: string;
let twoPipelines: string;
let bucket: string;

/** Synthesizes `build`'s stack into a cloud assembly (template, asset manifest, runtime asset) and returns the template. */
function synthAssembly(outdir: string, build: (stack: Stack) => void): string {
  const app = new App({ outdir });
  const stack = new Stack(app, 'LocalTest', { env: { account: '111111111111', region: 'eu-west-1' } });
  build(stack);
  const assembly = app.synth();
  return path.join(assembly.directory, assembly.getStackByName(stack.stackName).templateFile);
}

beforeAll(() => {
  requireBundle();
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing. Build it first: npx projen bundle`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssp-local-test-'));
  template = synthAssembly(path.join(dir, 'one'), (stack) => new ShellScriptPipeline(stack, 'Nightly'));
  twoPipelines = synthAssembly(path.join(dir, 'two'), (stack) => {
    new ShellScriptPipeline(stack, 'Nightly');
    new ShellScriptPipeline(stack, 'Weekly');
  });
  bucket = path.join(dir, 'bucket');
  fs.mkdirSync(path.join(bucket, 'jobs'), { recursive: true });
  fs.writeFileSync(path.join(bucket, 'jobs', 'ok.sh'), 'echo "hello from $1"\necho "in $(basename "$PWD")"\n');
  fs.writeFileSync(path.join(bucket, 'jobs', 'broken.sh'), 'echo "about to fail" >&2\nexit 3\n');
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/**
 * Runs the bundled command; its exit status and output. On Node 20 (no Promise.withResolvers) a run that gets past its
 * first Task state shows that the bundle carries its own polyfill: this child process has no jest setup file.
 */
function runCli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // A clean environment: no AWS settings of the developer's reach the run.
    const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, HOME: os.tmpdir() } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** The states the run printed as entered, in order. */
const entered = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('→ ')).map((l) => l.slice(2).replace(/ \(.*\)$/, ''));

describe('a run of the synthesized template', () => {
  test('a script that succeeds: every state printed as entered, the job output, the notification, exit 0', async () => {
    const r = await runCli(['local', '--template', template, '--bucket-dir', bucket, '--input', '{"script":"jobs/ok.sh","args":["x"]}', '--name', 't-ok']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(entered(r.stdout)).toEqual(SUCCESS_PATH);
    // The job's output, from the script the bootstrap copied out of the bucket folder and ran in the script's folder.
    expect(r.stdout).toContain('  │ hello from x\n  │ in jobs\n');
    expect(r.stdout).toContain('    Subject: SUCCEEDED: t-ok\n');
    // Printed in the order it happens: the notification under its state, the job output under the waiting state.
    expect(r.stdout.indexOf('→ Notify success')).toBeLessThan(r.stdout.indexOf('Subject: SUCCEEDED'));
    expect(r.stdout.indexOf('→ Pause for Job Completion')).toBeLessThan(r.stdout.indexOf('│ hello from x'));
    expect(r.stdout.indexOf('│ hello from x')).toBeLessThan(r.stdout.indexOf('→ Terminate instance'));
    expect(r.stdout).toMatch(/"status": "SUCCEEDED",\n\s+"pipeline": "LocalTest-[0-9A-F]{8}",\n\s+"execution": "t-ok"/);
    expect(r.stdout).toContain('"outputTail": "hello from x\\nin jobs\\n"');
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('Execution SUCCEEDED');
  });

  test('a script that fails: the status with error and cause, the failure notification, exit 1', async () => {
    const r = await runCli(['local', '--template', template, '--bucket-dir', bucket, '--input', '{"script":"jobs/broken.sh"}', '--name', 't-fail']);
    expect(r.status).toBe(1);
    expect(entered(r.stdout)).toEqual(expect.arrayContaining([STATES.PAUSE, STATES.TERMINATE, STATES.NOTIFY_FAILURE, STATES.FAILED]));
    expect(r.stdout).toContain('  │ about to fail\n');
    expect(r.stdout).toContain('    Subject: FAILED: t-fail\n');
    expect(r.stdout).toContain('"error": "Job.NonZeroExit"');
    const tail = r.stdout.trimEnd().split('\n').slice(-3);
    expect(tail[0]).toBe('Execution FAILED');
    expect(tail[1]).toBe('  error: Job.NonZeroExit');
    expect(JSON.parse(tail[2].replace(/^ {2}cause: /, ''))).toMatchObject({ exitCode: 3, outputTail: 'about to fail\n' });
  });

  test('a script that is not in the bucket folder fails before any instance starts', async () => {
    const r = await runCli(['local', '--template', template, '--bucket-dir', bucket, '--input', '{"script":"jobs/nope.sh"}', '--name', 't-missing']);
    expect(r.status).toBe(1);
    expect(entered(r.stdout)).not.toContain(STATES.LAUNCH);
    expect(r.stdout).toContain('  error: Input.ScriptNotFound');
    expect(r.stdout).toContain('jobs/nope.sh cannot be read (S3.S3Exception)');
  });
});

describe('usage errors: a clear message, the short usage and exit 2', () => {
  async function usage(argv: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  }

  test('missing --template', async () => {
    const r = await usage(['local', '--bucket-dir', bucket, '--input', '{}']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^shell-script-pipeline: --template is required\nUsage: shell-script-pipeline local --template <file>/);
  });

  test('a template that does not exist', async () => {
    const r = await usage(['local', '--template', path.join(dir, 'nope.json'), '--diagram']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('nope.json does not exist (run cdk synth first');
  });

  test('--input that is not JSON, or not an object', async () => {
    const bad = await usage(['local', '--template', template, '--bucket-dir', bucket, '--input', '{script: x}']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^shell-script-pipeline: --input is not JSON \(.+\): \{script: x\}/);
    const list = await usage(['local', '--template', template, '--bucket-dir', bucket, '--input', '["jobs/ok.sh"]']);
    expect(list.code).toBe(2);
    expect(list.err).toContain('--input must be a JSON object');
  });

  test('a template with two pipelines needs --pipeline, and an unknown one is named with the choices', async () => {
    const none = await usage(['local', '--template', twoPipelines, '--diagram']);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/holds 2 pipelines; pick one with --pipeline <name>: Nightly \(NightlyStateMachine[0-9A-F]{8}\), Weekly \(WeeklyStateMachine[0-9A-F]{8}\)/);
    const unknown = await usage(['local', '--template', twoPipelines, '--pipeline', 'Hourly', '--diagram']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/--pipeline: no pipeline 'Hourly' in .*; it holds Nightly \(.*\), Weekly \(.*\)/);
  });

  test('an unknown option or command', async () => {
    expect((await usage(['local', '--templat', template])).err).toContain("unknown option '--templat'");
    expect((await usage(['run'])).err).toContain("unknown command 'run'");
    expect((await usage([])).code).toBe(2);
  });

  test('--diagram prints the picked pipeline and its cleanup as Mermaid flowcharts, exit 0', async () => {
    const r = await usage(['local', '--template', twoPipelines, '--pipeline', 'Weekly', '--diagram']);
    expect(r.code).toBe(0);
    expect(r.out.match(/```mermaid\nflowchart TD/g)).toHaveLength(2);
    expect(r.out).toContain('Pause for Job Completion');
    expect(r.out).toContain('Find instances of the execution');
  });

  test('--help prints the options, exit 0', async () => {
    const r = await usage(['local', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('--bucket-dir <dir>');
    expect(r.out).toContain('Exit status: 0 when the execution SUCCEEDED, 1 when it FAILED, 2 on a usage error.');
  });
});

test("the README's table lists every option of the command's help, and no other", () => {
  const readme = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Run a pipeline locally'), readme.indexOf('What is real:'));
  const documented = [...section.matchAll(/^\| `(--[a-z-]+)/gm)].map((m) => m[1]).sort();
  const options = [...HELP.matchAll(/^ {2}(--[a-z-]+)/gm)].map((m) => m[1]).sort();
  expect(options.length).toBeGreaterThan(5);
  expect(documented).toEqual(options);
});
