/**
 * bootstrap/: the instance user data, as rendered from the skeleton and its sections and as the synthesized template
 * hands it to RunInstances. Static checks on the text, the template's copy, and the runtime CLI calls it makes.
 * (The script run in a sandbox is in sandbox.test.ts; what each part adds is tested with that part.)
 */
import { spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { CfnParameter, Duration, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Bootstrap } from '../../src/bootstrap';
import { USAGE } from '../../src/runtime/cli';
import { renderBootstrap } from '../support/bootstrap';
import { bashSyntaxCheck, cleanupSandboxes, RENDER_OPTIONS, tmpDir } from '../support/sandbox';
import { rawUserDataIntrinsic, synth, Synthesized, TEST_ENV, userDataOf, value } from '../support/template';

afterAll(cleanupSandboxes);

let defaultSynth: Synthesized;
let fromTemplate: string;
beforeAll(() => {
  defaultSynth = synth();
  fromTemplate = userDataOf(defaultSynth);
});

// ---- static checks, on both the rendered and the synthesized bootstrap --------------------------------------

const SOURCES: Array<[string, () => string]> = [
  ['renderBootstrap()', () => renderBootstrap(RENDER_OPTIONS)],
  ['the synthesized UserData', () => fromTemplate],
];

describe.each(SOURCES)('%s', (_name, source) => {
  let script: string;
  beforeAll(() => {
    script = source();
  });

  test('passes bash -n', () => {
    const file = path.join(tmpDir('ssp-bash-n-'), 'bootstrap.sh');
    fs.writeFileSync(file, script);
    const r = spawnSync('/bin/bash', ['-n', file], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  test('is a multi-line bash script: a #!/bin/bash line, and no JSON escapes left in it', () => {
    const lines = script.split('\n');
    expect(lines[0]).toBe('#!/bin/bash');
    expect(lines.length).toBeGreaterThan(50);
    expect(script).not.toContain('\\n');
    expect(script).not.toContain('\\"');
  });

  test('runs its steps in order, each on a line of its own', () => {
    const lines = script.split('\n');
    const steps: Array<[string, RegExp]> = [
      ['hard cap', /^shutdown -P "\+\$HARD_CAP_MINUTES"/],
      ['exit trap', /^trap finish EXIT$/],
      ['IMDSv2 token', /curl .*-X PUT .*http:\/\/169\.254\.169\.254\/latest\/api\/token/],
      ['task document', /aws s3api get-object --bucket "\$BUCKET" --key "pipeline\/tasks\/\$IID\.json" --expected-bucket-owner "\$ACCOUNT"/],
      ['first heartbeat, from bash', /^start_heartbeating$/],
      ['Node.js', /^\(dnf install -y -q nodejs22 /],
      ['runtime download', /aws s3api get-object .*--expected-bucket-owner "\$ACCOUNT" "\$WORK\/heartbeat\.js"/],
      ['runtime check', /\| sha256sum -c --status; then$/],
      ['job bucket check', /^aws s3api head-bucket --bucket "\$BUCKET" --expected-bucket-owner "\$ACCOUNT"/],
      ['job files', /aws s3 cp .*--recursive "s3:\/\/\$BUCKET\/" "\$WORK\/job\/" --exclude '\*\/\*'/],
      ['heartbeat run', /"\$WORK\/heartbeat\.js" run --task-file "\$TASK"/],
    ];
    const at = steps.map(([name, re]) => [name, lines.findIndex((l) => re.test(l.trim()))] as const);
    for (const [name, index] of at) expect({ step: name, found: index >= 0 }).toEqual({ step: name, found: true });
    for (let i = 1; i < at.length; i++) {
      const [step, line] = at[i];
      const [previous, previousLine] = at[i - 1];
      expect({ step, after: previous, inOrder: line > previousLine }).toEqual({ step, after: previous, inOrder: true });
    }
  });

  test('installs nothing from the internet and carries no secret', () => {
    expect(script).not.toMatch(/yum update|dnf update|dnf upgrade/);
    expect(script).not.toMatch(/\bnvm\b/);
    expect(script).not.toMatch(/(curl|wget)[^\n]*\|\s*(sudo\s+)?(ba)?sh/);
    expect(script).not.toMatch(/github/i);
    expect(script).not.toMatch(/nodejs\.org/);
    expect(script).not.toMatch(/npm (install|i)\b/);
    // No token, nor a place for one: the bootstrap only reads the token from the task file at run time.
    expect(script).not.toMatch(/Task\.Token/);
    expect(script).not.toMatch(/"taskToken"\s*:\s*"/);
    expect(script).not.toMatch(/--task-token/);
    expect(script).not.toMatch(/AKIA|ASIA[0-9A-Z]{12}|aws_secret_access_key/i);
  });

  test('is under the 16 KB user data limit', () => {
    expect(Buffer.byteLength(script, 'utf8')).toBeLessThan(16 * 1024);
  });

  test('every S3 read of a single object names the expected bucket owner; no high-level "aws s3" command is given it', () => {
    const s3api = script.split('\n').filter((l) => /\baws s3api /.test(l));
    expect(s3api.length).toBeGreaterThanOrEqual(3);
    for (const line of s3api) expect(line).toContain('--expected-bucket-owner "$ACCOUNT"');
    // "aws s3 cp" refuses the option ("Unknown options"), which would fail every boot.
    for (const line of script.split('\n').filter((l) => /\baws s3 (cp|sync|ls) /.test(l))) expect(line).not.toContain('--expected-bucket-owner');
    expect(script).not.toMatch(/aws s3 cp [^\n]*"\$RUNTIME_URL"/);
  });

  test('fetches nothing over http(s) but instance metadata', () => {
    const urls = script.match(/https?:\/\/[^\s'"\\]+/g) ?? [];
    expect(urls.length).toBeGreaterThan(0);
    for (const url of urls) expect(url).toMatch(/^http:\/\/169\.254\.169\.254\/latest\//);
  });
});

// ---- the bootstrap in the template ----------------------------------------------------------------------

describe('the synthesized UserData', () => {
  test('decodes to exactly the bootstrap renderBootstrap() gives for the deployed values', () => {
    const s = defaultSynth;
    const runtimeUrl = /RUNTIME_URL='([^']*)'/.exec(fromTemplate)?.[1];
    expect(runtimeUrl).toMatch(/^s3:\/\/cdk-[a-z0-9]+-assets-[0-9]+-[a-z0-9-]+\/[0-9a-f]{64}\.js$/);
    const expected = renderBootstrap({
      bucketName: value(s, s.pipeline.bucket.bucketName),
      accountId: TEST_ENV.account,
      roleId: value(s, (s.pipeline.instanceRole as iam.Role).roleId),
      runtimeUrl: runtimeUrl!,
      runtimeSha256: createHash('sha256').update(fs.readFileSync(path.join(__dirname, '..', '..', 'assets', 'runtime', 'cli', 'heartbeat.js'))).digest('hex'),
      jobSeconds: '3600',
      heartbeatSeconds: '300',
    });
    expect(fromTemplate).toBe(expected);
  });

  test('the hard cap and the task wait follow jobTimeout and heartbeatTimeout', () => {
    const script = userDataOf(synth({ jobTimeout: Duration.hours(2), heartbeatTimeout: Duration.minutes(10) }));
    expect(script).toMatch(/^JOB_SECONDS=7200$/m);
    expect(script).toMatch(/^TASK_WAIT_SECONDS=600$/m);
    // bash does the arithmetic: 7200 s is 120 minutes, plus the 15-minute grace.
    const cap = spawnSync('/bin/bash', ['-c', `${/^JOB_SECONDS=.*$/m.exec(script)![0]}\n${/^HARD_CAP_MINUTES=.*$/m.exec(script)![0]}\necho $HARD_CAP_MINUTES`]);
    expect(cap.stdout.toString().trim()).toBe('135');
  });

  test('the hard cap follows a jobTimeout given as a CloudFormation parameter (no fixed 75 minutes)', () => {
    // With jobTimeout = 10 hours at deploy time, a hard cap fixed at synth time would power the instance off mid-job.
    const s = synth({}, (stack) => ({
      jobTimeout: Duration.seconds(Token.asNumber(new CfnParameter(stack, 'JobSeconds', { type: 'Number' }).valueAsNumber)),
    }));
    const references = JSON.stringify(rawUserDataIntrinsic(s)).split(JSON.stringify({ Ref: 'JobSeconds' })).length - 1;
    expect(references).toBeGreaterThan(0);
    // The parameter's deploy-time value (the stand-in: 36000 s) reaches the bootstrap, which computes the cap from it.
    expect(userDataOf(s)).toMatch(/^JOB_SECONDS=36000$/m);
  });
});

/** The commands of the runtime CLI and the options each accepts, from its own usage text. */
function acceptedCliOptions(): Map<string, Set<string>> {
  // The runtime's own usage text: "heartbeat.js <command> [--option ...] -- ...", possibly continued on indented lines.
  const accepted = new Map<string, Set<string>>();
  let current: Set<string> | undefined;
  for (const line of USAGE.split('\n')) {
    const m = /^\s*heartbeat\.js (\w[\w-]*)(.*)$/.exec(line);
    if (m) accepted.set(m[1], (current = new Set()));
    else if (!(current && /^\s+(\[?--|-- )/.test(line))) current = undefined;
    const synopsis = m ? m[2] : line;
    if (current) for (const o of synopsis.split(' -- ')[0].matchAll(/--([a-z][a-z-]*)/g)) current.add(o[1]);
  }
  return accepted;
}

/** The heartbeat.js calls of a bootstrap, continued lines joined: [command, the options it passes before any " -- "]. */
function cliCalls(script: string): Array<[string, string[]]> {
  const joined = script.replace(/\\\n\s*/g, ' ');
  return [...joined.matchAll(/heartbeat\.js" ([\w-]+)([^\n]*)/g)].map(([, command, rest]) => [
    command,
    [...rest.split(' -- ')[0].matchAll(/--([a-z][a-z-]*)/g)].map((o) => o[1]),
  ]);
}

function unknownCliUses(script: string): string[] {
  const accepted = acceptedCliOptions();
  const unknown: string[] = [];
  for (const [command, options] of cliCalls(script)) {
    if (!accepted.has(command)) unknown.push(command);
    for (const o of options) if (!accepted.get(command)?.has(o)) unknown.push(`${command} --${o}`);
  }
  return unknown;
}

test('every heartbeat.js call in the bootstrap uses a command and options the runtime CLI accepts', () => {
  expect([...acceptedCliOptions().keys()]).toEqual(expect.arrayContaining(['run', 'fail']));
  const script = renderBootstrap(RENDER_OPTIONS);
  expect(cliCalls(script).map((c) => c[0]).sort()).toEqual(['fail', 'run']);
  expect(unknownCliUses(script)).toEqual([]);
});

test('activity mode: claim-activity is called with options the runtime CLI accepts', () => {
  expect([...acceptedCliOptions().keys()]).toContain('claim-activity');
  const script = renderBootstrap({ ...RENDER_OPTIONS, activityArn: 'arn:aws:states:eu-west-1:111111111111:activity:jobs' });
  const calls = cliCalls(script);
  expect(calls.map((c) => c[0]).sort()).toEqual(['claim-activity', 'fail', 'run']);
  expect(calls.find((c) => c[0] === 'claim-activity')![1]).toEqual(['activity-arn', 'instance-id', 'bucket', 'owner-tag-value', 'out', 'wait-seconds']);
  expect(unknownCliUses(script)).toEqual([]);
});

test('with every option (activity, staging) the bootstrap still passes bash -n and fits in 16 KB of user data', () => {
  const script = renderBootstrap({
    ...RENDER_OPTIONS,
    activityArn: 'arn:aws:states:eu-west-1:111111111111:activity:jobs',
    stagingInputs: ['in/a', 'in/b', 'reference/data'],
    stagingOutput: 'results',
  });
  const file = path.join(tmpDir('ssp-bash-n-'), 'bootstrap.sh');
  fs.writeFileSync(file, script);
  const r = spawnSync('/bin/bash', ['-n', file], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(Buffer.byteLength(script, 'utf8')).toBeLessThan(16 * 1024);
  // The files it writes at run time pass too.
  for (const [name, mark] of [['run-job.sh', 'WRAPPER'], ['before-report.sh', 'HOOK'], ['job-start.sh', 'JOBSTART']]) {
    const body = new RegExp(`<<'${mark}'[^\\n]*\\n([\\s\\S]*?)\\n${mark}\\n`).exec(script)?.[1];
    expect({ name, found: body !== undefined }).toEqual({ name, found: true });
    const f = path.join(tmpDir('ssp-bash-n-'), name);
    fs.writeFileSync(f, body!);
    const check = spawnSync('/bin/bash', ['-n', f], { encoding: 'utf8' });
    expect({ name, stderr: check.stderr, status: check.status }).toEqual({ name, stderr: '', status: 0 });
  }
});

describe('the skeleton', () => {
  test('needs exactly one task step, from the task hand-off', () => {
    expect(() => new Bootstrap(RENDER_OPTIONS).render()).toThrow(/no task step/);
    const bootstrap = new Bootstrap(RENDER_OPTIONS);
    bootstrap.setTaskStep({ script: 'TASK=x', afterRuntime: false });
    expect(() => bootstrap.setTaskStep({ script: 'TASK=y', afterRuntime: true })).toThrow(/already has a task step/);
  });

  test('puts each section where its name says', () => {
    const bootstrap = new Bootstrap(RENDER_OPTIONS);
    bootstrap.setTaskStep({ script: 'TASK=from-step', afterRuntime: true });
    bootstrap.addExitStep('echo exit-step');
    bootstrap.addStageIn('echo stage-in');
    bootstrap.setJobCommand('JOB_CMD=(echo job)');
    bootstrap.addHookVariable('HOOK_VAR=1');
    bootstrap.addPublishStep('echo publish');
    bootstrap.addBeforeResultStep('echo before-result');
    const lines = bootstrap.render().split('\n');
    const at = (line: string) => lines.indexOf(line);
    // The exit trap runs its steps after the uploads, before powering off.
    expect(at('  echo exit-step')).toBeGreaterThan(lines.findIndex((l) => l.includes('"s3://$BUCKET/$RUN_PREFIX/bootstrap.log"')));
    expect(at('  echo exit-step')).toBeLessThan(at('  poweroff || shutdown -P now'));
    // A step that needs the runtime comes after its download.
    expect(at('TASK=from-step')).toBeGreaterThan(lines.findIndex((l) => l.includes('--expected-bucket-owner "$ACCOUNT" "$WORK/heartbeat.js"')));
    // Holding the task, the bootstrap heartbeats from bash at once.
    expect(at('start_heartbeating')).toBe(at('TASK=from-step') + 3);
    expect(at('echo stage-in')).toBeGreaterThan(at('mkdir -p "$SSP_INPUT_DIR" "$SSP_OUTPUT_DIR"'));
    expect(at('JOB_CMD=(echo job)')).toBeGreaterThan(at('echo stage-in'));
    expect(lines).toContain('export LOG BUCKET RUN_PREFIX NODE WORK HOOK_VAR=1');
    // The hook: the log to the bucket, then publish steps, then what must end before the result.
    expect(lines.slice(at("cat > \"$WORK/before-report.sh\" <<'HOOK'") + 1, at('HOOK'))).toEqual([
      '#!/bin/bash',
      'aws s3 cp --only-show-errors "$LOG" "s3://$BUCKET/$RUN_PREFIX/output.log"',
      'echo publish',
      'echo before-result',
    ]);
    expect(bashSyntaxCheck(bootstrap.render())).toEqual({ stderr: '', status: 0 });
  });
});

