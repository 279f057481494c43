/**
 * The instance bootstrap (user data): rendered by `renderBootstrap`, and as the synthesized template hands it to
 * RunInstances. Static checks on the text, then the script itself run in a sandbox where every command that would
 * touch AWS or the machine (aws, curl, node, shutdown, poweroff, dnf, ...) is a fake that logs its arguments.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CfnParameter, Duration, Token } from 'aws-cdk-lib';
import { renderBootstrap, WORK_DIR } from './support/bootstrap';
import { definitionOf, resolveIntrinsics, synth, Synthesized } from './support/template';
import { USAGE } from '../src/runtime/cli';

const RENDER_OPTIONS = {
  bucketName: 'job-bucket',
  roleId: 'AROAEXAMPLEROLEID',
  runtimeUrl: 's3://asset-bucket/runtime.js',
  jobSeconds: '3600',
  heartbeatSeconds: '300',
};

const tmpDirs: string[] = [];
function tmpDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of tmpDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** Logical ID of the run state machine of a synthesized pipeline. */
function runMachineId(s: Synthesized): string {
  return s.stack.resolve(s.pipeline.stateMachine.stateMachineArn).Ref;
}

/** The base64 UserData of 'Launch instance', as deployed (intrinsics resolved to stand-ins), decoded. */
function userDataOf(s: Synthesized): string {
  const def = definitionOf(s.json, (id) => id === runMachineId(s));
  return Buffer.from(def.States['Launch instance'].Parameters.UserData, 'base64').toString('utf8');
}

/** The raw `Fn::Base64` intrinsic that produces the user data in the template. */
function rawUserDataIntrinsic(s: Synthesized): any {
  const found: any[] = [];
  const walk = (v: any): void => {
    if (Array.isArray(v)) {
      v.forEach(walk);
    } else if (v && typeof v === 'object') {
      if ('Fn::Base64' in v) found.push(v);
      else Object.values(v).forEach(walk);
    }
  };
  walk(s.json.Resources[runMachineId(s)].Properties);
  expect(found).toHaveLength(1);
  return found[0];
}

function value(s: Synthesized, token: any): any {
  return resolveIntrinsics(s.stack.resolve(token), s.json.Resources);
}

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
      ['task document', /aws s3 cp .*"s3:\/\/\$BUCKET\/pipeline\/tasks\/\$IID\.json"/],
      ['runtime download', /aws s3 cp .*"\$RUNTIME_URL" "\$WORK\/heartbeat\.js"/],
      ['job files', /aws s3 cp .*--recursive .*--exclude 'pipeline\/\*'/],
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
    expect(script).not.toMatch(/taskToken|Task\.Token/);
    expect(script).not.toMatch(/AKIA|ASIA[0-9A-Z]{12}|aws_secret_access_key/i);
  });

  test('is under the 16 KB user data limit', () => {
    expect(Buffer.byteLength(script, 'utf8')).toBeLessThan(16 * 1024);
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
      roleId: value(s, s.pipeline.instanceRole.roleId),
      runtimeUrl: runtimeUrl!,
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

test('with every option (activity, staging, job logs) the bootstrap still passes bash -n and fits in 16 KB of user data', () => {
  const script = renderBootstrap({
    ...RENDER_OPTIONS,
    activityArn: 'arn:aws:states:eu-west-1:111111111111:activity:jobs',
    stagingInputs: ['in/a', 'in/b', 'reference/data'],
    stagingOutput: 'results',
    jobLogGroup: 'ssp-job-logs',
  });
  const file = path.join(tmpDir('ssp-bash-n-'), 'bootstrap.sh');
  fs.writeFileSync(file, script);
  const r = spawnSync('/bin/bash', ['-n', file], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(Buffer.byteLength(script, 'utf8')).toBeLessThan(16 * 1024);
  // The files it writes at run time pass too.
  for (const [name, mark] of [['run-job.sh', 'WRAPPER'], ['before-report.sh', 'HOOK']]) {
    const body = new RegExp(`<<'${mark}'\\n([\\s\\S]*?)\\n${mark}\\n`).exec(script)?.[1];
    expect({ name, found: body !== undefined }).toEqual({ name, found: true });
    const f = path.join(tmpDir('ssp-bash-n-'), name);
    fs.writeFileSync(f, body!);
    const check = spawnSync('/bin/bash', ['-n', f], { encoding: 'utf8' });
    expect({ name, stderr: check.stderr, status: check.status }).toEqual({ name, stderr: '', status: 0 });
  }
});

// ---- sandbox run ------------------------------------------------------------------------------------------

/**
 * Runs the bootstrap with bash in a throwaway directory. PATH holds only
 *  - fakes for everything that would reach AWS or act on the machine (aws, curl, node, shutdown, poweroff, dnf,
 *    yum, apt-get, sync, sleep), each logging its arguments, with S3 simulated by a folder; and
 *  - links to a short list of harmless real tools (bash, tee, mkdir, cp, ...).
 * Before each run it checks, in the very environment the script gets, that `poweroff` and `shutdown` resolve to the
 * fakes and that no other power-management command can be found; and that the script text calls none of them by an
 * absolute path. The work directory is moved to the sandbox in a copy of the script text.
 */
const INSTANCE_ID = 'i-0123456789abcdef0';
const HARMLESS_TOOLS = ['bash', 'tee', 'mkdir', 'dirname', 'basename', 'chmod', 'cp', 'find', 'cat', 'wc'];
const FORBIDDEN_TOOLS = ['halt', 'reboot', 'systemctl', 'init', 'telinit', 'kexec', 'sudo', 'rm', 'pkill', 'killall'];

// One write per call, so that calls logged at the same time (activity mode's claimer runs in the background) never interleave.
const LOG_CALL = '{ ssp_line=$(basename "$0"); for ssp_arg in "$@"; do ssp_line+=$\'\\t\'"$ssp_arg"; done; printf \'%s\\n\' "$ssp_line"; } >> "$SSP_CALLS"';

const FAKES: Record<string, string> = {
  'shutdown': 'exit 0',
  'poweroff': 'exit 0',
  'sync': 'exit 0',
  'yum': 'exit 1',
  'apt-get': 'exit 1',
  'sleep': 'exec "$SSP_REAL_SLEEP" 0.1',
  // The distribution's package "installs" Node.js: the fake node appears on PATH.
  'dnf': `if [ -n "\${SSP_DNF_INSTALLS_NODE:-}" ] && [ "$1" = install ]; then cp "$SSP_FAKEBIN/.node" "$SSP_FAKEBIN/node"; exit 0; fi
exit 1`,
  // node -e (the bootstrap reading fields of the task document) is the real Node.js; heartbeat.js is faked.
  '.node': `if [ "$1" = -e ]; then exec "$SSP_REAL_NODE" "$@"; fi
# Activity mode's claimer: after SSP_CLAIM_DELAY, writes SSP_CLAIM_TASK to --out (or exits 1 without a file when it is
# unset), then stays SSP_CLAIM_LINGER longer, like a claimer whose last poll is still in flight.
if [ "$2" = claim-activity ]; then
  out=''
  while [ $# -gt 0 ]; do
    case "$1" in --out) out="$2"; shift ;; esac
    shift
  done
  "$SSP_REAL_SLEEP" "\${SSP_CLAIM_DELAY:-0.3}"
  [ -n "\${SSP_CLAIM_TASK:-}" ] || exit 1
  printf '%s' "$SSP_CLAIM_TASK" > "$out"
  "$SSP_REAL_SLEEP" "\${SSP_CLAIM_LINGER:-0}"
  printf 'claimer-exit\\n' >> "$SSP_CALLS"
  exit 0
fi
printf '%s\\n' "$PWD" >> "$SSP_CALLS.cwd"
# Like the runtime: the job's output goes to --log-file, and --before-report runs before the result is sent.
log=''; hook=''
while [ $# -gt 0 ]; do
  case "$1" in
    --log-file) log="$2"; shift ;;
    --before-report) hook="$2"; shift ;;
    --) break ;;
  esac
  shift
done
[ -n "$log" ] && echo 'job output' >> "$log"
# SSP_RUN_JOB: run the command after -- like the runtime does (output to the log), and record its exit status.
if [ -n "\${SSP_RUN_JOB:-}" ] && [ "\${1:-}" = -- ]; then
  shift
  "$@" >> "$log" 2>&1
  echo "$?" > "$SSP_CALLS.job-status"
fi
[ -n "$hook" ] && bash -c "$hook"
[ -n "\${SSP_MARK_REPORT:-}" ] && printf 'report\\n' >> "$SSP_CALLS"
exit "\${SSP_HEARTBEAT_RC:-0}"`,
  'curl': `url=''; put=0; token=''
while [ $# -gt 0 ]; do
  case "$1" in
    -X) [ "$2" = PUT ] && put=1; shift ;;
    -H) case "$2" in X-aws-ec2-metadata-token:*) token="\${2#*: }" ;; esac; shift ;;
    http*) url="$1" ;;
  esac
  shift
done
[ -n "\${SSP_NO_IMDS:-}" ] && exit 7
case "$url" in
  http://169.254.169.254/latest/api/token) [ "$put" = 1 ] && { printf 'imds-token'; exit 0; } ;;
  http://169.254.169.254/latest/meta-data/instance-id) [ "$token" = imds-token ] && { printf '${INSTANCE_ID}'; exit 0; } ;;
  http://169.254.169.254/latest/meta-data/placement/region) [ "$token" = imds-token ] && { printf 'eu-west-1'; exit 0; } ;;
esac
exit 22`,
  'aws': `# CloudWatch Logs: create-log-stream succeeds; put-log-events records the batch it was given (one JSON per line).
if [ "$1" = logs ]; then
  case "$2" in
    create-log-stream) exit 0 ;;
    put-log-events)
      while [ $# -gt 0 ]; do
        [ "$1" = --log-events ] && { cat "\${2#file://}"; printf '\\n'; } >> "$SSP_CALLS.log-events"
        shift
      done
      exit 0 ;;
  esac
  exit 2
fi
[ "$1" = s3 ] && [ "$2" = cp ] || exit 2
shift 2
recursive=0; exclude=''; pos=()
while [ $# -gt 0 ]; do
  case "$1" in
    --only-show-errors) ;;
    --recursive) recursive=1 ;;
    --exclude) exclude="$2"; shift ;;
    *) pos+=("$1") ;;
  esac
  shift
done
map() { case "$1" in s3://*) printf '%s/%s' "$SSP_S3" "\${1#s3://}" ;; *) printf '%s' "$1" ;; esac; }
src=$(map "\${pos[0]}"); dst=$(map "\${pos[1]}")
if [ "$recursive" = 1 ]; then
  [ -n "\${SSP_FAIL_RECURSIVE:-}" ] && { echo 'fatal error: An error occurred (AccessDenied) when calling the ListObjectsV2 operation' >&2; exit 1; }
  # Targeted failures: a recursive copy from or to a matching location.
  if { [ -n "\${SSP_FAIL_COPY_FROM:-}" ] && [[ "\${pos[0]}" == $SSP_FAIL_COPY_FROM ]]; } || { [ -n "\${SSP_FAIL_COPY_TO:-}" ] && [[ "\${pos[1]}" == $SSP_FAIL_COPY_TO ]]; }; then
    echo 'fatal error: An error occurred (AccessDenied) when calling the PutObject operation' >&2; exit 1
  fi
  [ -d "$src" ] || exit 0
  (cd "$src" && find . -type f) | while IFS= read -r f; do
    rel="\${f#./}"
    if [ -n "$exclude" ] && [[ "$rel" == $exclude ]]; then continue; fi
    mkdir -p "$(dirname "$dst/$rel")" && cp "$src/$rel" "$dst/$rel"
  done
  exit 0
fi
[ -f "$src" ] || { echo 'fatal error: An error occurred (404) when calling the HeadObject operation: Not Found' >&2; exit 1; }
mkdir -p "$(dirname "$dst")" && cp "$src" "$dst"`,
};

interface SandboxOptions {
  /** The bootstrap text (WORK_DIR is replaced in a copy). */
  readonly script: string;
  /** Objects in the fake S3, keyed `<bucket>/<key>`. */
  readonly objects?: Record<string, string>;
  /** Whether Node.js is on the image (else the fake dnf installs it when SSP_DNF_INSTALLS_NODE is set). */
  readonly withNode?: boolean;
  readonly env?: Record<string, string>;
}

interface SandboxResult {
  readonly status: number | null;
  readonly output: string;
  /** Every faked command in call order: [name, ...args], with the work directory written as $WORK. */
  readonly calls: string[][];
  readonly work: string;
  readonly s3: string;
  readonly cwds: string[];
  /** Files the fakes leave next to the call log: `job-status` (SSP_RUN_JOB), `log-events` (put-log-events batches). */
  readonly sidecar: (name: 'job-status' | 'log-events') => string | undefined;
}

function whichReal(tool: string): string {
  const r = spawnSync('/bin/bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
  const p = r.stdout.trim();
  if (r.status !== 0 || !p.startsWith('/')) throw new Error(`sandbox: no real ${tool}`);
  return p;
}

function runSandbox(o: SandboxOptions): SandboxResult {
  const root = tmpDir('ssp-bootstrap-');
  const fakebin = path.join(root, 'fakebin');
  const realbin = path.join(root, 'realbin');
  const work = path.join(root, 'work');
  const s3 = path.join(root, 's3');
  const calls = path.join(root, 'calls.log');
  for (const d of [fakebin, realbin, s3, path.join(root, 'home')]) fs.mkdirSync(d, { recursive: true });

  for (const [name, body] of Object.entries(FAKES)) {
    fs.writeFileSync(path.join(fakebin, name), `#!/bin/bash\n${LOG_CALL}\n${body}\n`, { mode: 0o755 });
  }
  if (o.withNode !== false) fs.copyFileSync(path.join(fakebin, '.node'), path.join(fakebin, 'node'));
  fs.chmodSync(path.join(fakebin, '.node'), 0o755);
  if (fs.existsSync(path.join(fakebin, 'node'))) fs.chmodSync(path.join(fakebin, 'node'), 0o755);
  for (const tool of HARMLESS_TOOLS) fs.symlinkSync(whichReal(tool), path.join(realbin, tool));

  for (const [key, content] of Object.entries(o.objects ?? {})) {
    fs.mkdirSync(path.dirname(path.join(s3, key)), { recursive: true });
    fs.writeFileSync(path.join(s3, key), content);
  }

  const env: NodeJS.ProcessEnv = {
    PATH: `${fakebin}:${realbin}`,
    HOME: path.join(root, 'home'),
    LANG: 'C',
    SSP_CALLS: calls,
    SSP_S3: s3,
    SSP_FAKEBIN: fakebin,
    SSP_REAL_NODE: process.execPath,
    SSP_REAL_SLEEP: whichReal('sleep'),
    ...o.env,
  };

  // Safety gate 1: in this exact environment, the power commands are the fakes and nothing else can act on the machine.
  const probe = spawnSync('/bin/bash', ['-c', `for t in poweroff shutdown ${FORBIDDEN_TOOLS.join(' ')}; do printf '%s=%s\\n' "$t" "$(command -v "$t" || echo none)"; done`], {
    env,
    encoding: 'utf8',
  });
  const found = Object.fromEntries(probe.stdout.trim().split('\n').map((l) => l.split('=') as [string, string]));
  const expected = { poweroff: path.join(fakebin, 'poweroff'), shutdown: path.join(fakebin, 'shutdown'), ...Object.fromEntries(FORBIDDEN_TOOLS.map((t) => [t, 'none'])) };
  if (JSON.stringify(found) !== JSON.stringify(expected)) {
    throw new Error(`sandbox is not safe, refusing to run the bootstrap: ${JSON.stringify(found)}`);
  }
  // Safety gate 2: the script reaches no power command by absolute path, and does not kill or remove anything.
  if (/\/s?bin\/(poweroff|shutdown|halt|reboot|systemctl|init|telinit)\b|\bsystemctl\b|\bkill\b|\brm\s|\bsudo\b/.test(o.script)) {
    throw new Error('sandbox: the bootstrap calls a command the sandbox does not fake; refusing to run it');
  }
  const text = o.script.split(WORK_DIR).join(work);
  if (text.includes('/opt/')) throw new Error('sandbox: the work directory was not moved');
  const file = path.join(root, 'bootstrap.sh');
  fs.writeFileSync(file, text);

  const r = spawnSync('/bin/bash', [file], { env, cwd: root, encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
  const log = fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8') : '';
  return {
    status: r.status,
    output: `${r.stdout}${r.stderr}`,
    calls: log
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.split('\t').map((a) => a.split(work).join('$WORK'))),
    work,
    s3,
    cwds: fs.existsSync(`${calls}.cwd`) ? fs.readFileSync(`${calls}.cwd`, 'utf8').trim().split('\n') : [],
    sidecar: (name) => (fs.existsSync(`${calls}.${name}`) ? fs.readFileSync(`${calls}.${name}`, 'utf8') : undefined),
  };
}

/** One readable line per faked call; node -e (reading the task document) is left out. */
function summary(r: SandboxResult): string[] {
  const out: string[] = [];
  for (const [cmd, ...args] of r.calls) {
    if (cmd === 'node' || cmd === '.node') {
      if (args[0] === '-e') continue;
      out.push(`heartbeat ${args[1]}`);
    } else if (cmd === 'curl') {
      const url = args.find((a) => a.startsWith('http')) ?? '?';
      out.push(`curl ${args.includes('PUT') ? 'PUT' : 'GET'} ${url}`);
    } else if (cmd === 'aws') {
      out.push(['aws', ...args.filter((a) => a !== '--only-show-errors')].join(' '));
    } else if (cmd === 'sleep' || cmd === 'sync') {
      continue;
    } else {
      out.push([cmd, ...args].join(' '));
    }
  }
  return out;
}

function heartbeatCalls(r: SandboxResult): string[][] {
  return r.calls.filter(([cmd, first]) => (cmd === 'node' || cmd === '.node') && first !== '-e').map(([, ...args]) => args.slice(1));
}

const BUCKET = RENDER_OPTIONS.bucketName;
const TASK_KEY = `${BUCKET}/pipeline/tasks/${INSTANCE_ID}.json`;
const RUNTIME_KEY = 'asset-bucket/runtime.js';
const RUN_PREFIX = `${BUCKET}/pipeline/runs/exec-1/${RENDER_OPTIONS.roleId}:${INSTANCE_ID}`;

function taskDocument(script: string): string {
  return JSON.stringify({
    taskToken: 'token-exec-1',
    executionArn: 'arn:aws:states:eu-west-1:111111111111:execution:Pipeline:exec-1',
    executionName: 'exec-1',
    script,
    args: ['2026-01-01'],
    heartbeatSeconds: 300,
  });
}

/** A bucket with a script in a folder, a sibling file, an unrelated folder, and the instance's task document. */
function jobObjects(script = 'jobs/nightly.sh'): Record<string, string> {
  return {
    [TASK_KEY]: taskDocument(script),
    [RUNTIME_KEY]: '// heartbeat runtime',
    [`${BUCKET}/jobs/nightly.sh`]: 'echo nightly\n',
    [`${BUCKET}/jobs/lib/helpers.sh`]: 'echo helpers\n',
    [`${BUCKET}/other/unrelated.sh`]: 'echo other\n',
  };
}

const IMDS = [
  'curl PUT http://169.254.169.254/latest/api/token',
  'curl GET http://169.254.169.254/latest/meta-data/instance-id',
  'curl PUT http://169.254.169.254/latest/api/token',
  'curl GET http://169.254.169.254/latest/meta-data/placement/region',
];

describe('the bootstrap in a sandbox', () => {
  const script = renderBootstrap({ ...RENDER_OPTIONS, heartbeatSeconds: '1' });

  test('runs a job in a folder: hard cap, IMDS, task document, runtime, job files, heartbeat run, log upload, poweroff', () => {
    const r = runSandbox({ script, objects: jobObjects() });
    expect(summary(r)).toEqual([
      'shutdown -P +75 shell-script-pipeline: hard cap reached',
      ...IMDS,
      `aws s3 cp s3://${TASK_KEY} $WORK/task.json`,
      `aws s3 cp s3://${RUNTIME_KEY} $WORK/heartbeat.js`,
      `aws s3 cp --recursive s3://${BUCKET}/jobs/ $WORK/job/jobs/ --exclude pipeline/*`,
      'heartbeat run',
      // --before-report: the log goes up while the runtime holds the result back...
      `aws s3 cp $WORK/output.log s3://${RUN_PREFIX}/output.log`,
      // ...and the exit trap uploads it again (the only upload when a run is lost), then the bootstrap log.
      `aws s3 cp $WORK/output.log s3://${RUN_PREFIX}/output.log`,
      `aws s3 cp $WORK/bootstrap.log s3://${RUN_PREFIX}/bootstrap.log`,
      'poweroff',
    ]);
    expect(fs.readFileSync(path.join(r.s3, RUN_PREFIX, 'output.log'), 'utf8')).toContain('job output');
    const [run] = heartbeatCalls(r);
    expect(run.slice(0, 3)).toEqual(['run', '--task-file', '$WORK/task.json']);
    expect(run.slice(run.indexOf('--'))).toEqual(['--', '/bin/bash', '$WORK/job/jobs/nightly.sh']);
    expect(r.cwds).toEqual([path.join(r.work, 'job', 'jobs')]);
    expect(fs.existsSync(path.join(r.work, 'job/jobs/lib/helpers.sh'))).toBe(true);
    expect(fs.existsSync(path.join(r.work, 'job/other'))).toBe(false);
    expect(fs.readFileSync(path.join(r.s3, RUN_PREFIX, 'bootstrap.log'), 'utf8')).toContain('[bootstrap]');
  });

  test('a script at the bucket root gets the whole bucket except pipeline/', () => {
    const r = runSandbox({
      script,
      objects: { ...jobObjects('nightly.sh'), [`${BUCKET}/nightly.sh`]: 'echo root\n', [`${BUCKET}/pipeline/runs/old/x/output.log`]: 'old' },
    });
    expect(summary(r)).toContain(`aws s3 cp --recursive s3://${BUCKET}/ $WORK/job/ --exclude pipeline/*`);
    expect(fs.existsSync(path.join(r.work, 'job/nightly.sh'))).toBe(true);
    expect(fs.existsSync(path.join(r.work, 'job/jobs/lib/helpers.sh'))).toBe(true);
    expect(fs.existsSync(path.join(r.work, 'job/pipeline'))).toBe(false);
    expect(heartbeatCalls(r)[0].slice(-2)).toEqual(['/bin/bash', '$WORK/job/nightly.sh']);
    expect(summary(r).at(-1)).toBe('poweroff');
  });

  test('when the job files cannot be copied: reports Bootstrap.Failed, runs nothing, then powers off', () => {
    const r = runSandbox({ script, objects: jobObjects(), env: { SSP_FAIL_RECURSIVE: '1' } });
    expect(heartbeatCalls(r)).toEqual([
      ['fail', '--task-file', '$WORK/task.json', '--error', 'Bootstrap.Failed', '--cause', `could not copy s3://${BUCKET}/jobs/ to the instance`],
    ]);
    expect(summary(r).slice(-3)).toEqual(['heartbeat fail', `aws s3 cp $WORK/bootstrap.log s3://${RUN_PREFIX}/bootstrap.log`, 'poweroff']);
    expect(r.status).not.toBe(0);
  });

  test('when the runtime refuses to start the job (exit 64): reports Bootstrap.Failed instead of waiting for a timeout', () => {
    const r = runSandbox({ script, objects: jobObjects(), env: { SSP_HEARTBEAT_RC: '64' } });
    const calls = heartbeatCalls(r);
    expect(calls.map((c) => c[0])).toEqual(['run', 'fail']);
    expect(calls[1]).toEqual(['fail', '--task-file', '$WORK/task.json', '--error', 'Bootstrap.Failed', '--cause', 'the heartbeat runtime could not start the job (exit 64)']);
    expect(summary(r).at(-1)).toBe('poweroff');
  });

  test('when the runtime reports a job failure (exit 1): nothing more is reported', () => {
    const r = runSandbox({ script, objects: jobObjects(), env: { SSP_HEARTBEAT_RC: '1' } });
    expect(heartbeatCalls(r).map((c) => c[0])).toEqual(['run']);
  });

  test('when the script is not in the bucket: reports Bootstrap.Failed naming it, then powers off', () => {
    const objects = jobObjects();
    delete objects[`${BUCKET}/jobs/nightly.sh`];
    const r = runSandbox({ script, objects });
    expect(heartbeatCalls(r)).toEqual([
      ['fail', '--task-file', '$WORK/task.json', '--error', 'Bootstrap.Failed', '--cause', `s3://${BUCKET}/jobs/nightly.sh was not found in the bucket`],
    ]);
    expect(summary(r).at(-1)).toBe('poweroff');
  });

  test('when no task document comes: keeps asking until the wait is over, then powers off without running anything', () => {
    const objects = jobObjects();
    delete objects[TASK_KEY];
    const r = runSandbox({ script, objects });
    const fetches = summary(r).filter((l) => l === `aws s3 cp s3://${TASK_KEY} $WORK/task.json`);
    expect(fetches.length).toBeGreaterThanOrEqual(2);
    expect(heartbeatCalls(r)).toEqual([]);
    expect(summary(r).filter((l) => l.includes('bootstrap.log'))).toEqual([]);
    expect(summary(r).at(-1)).toBe('poweroff');
    expect(r.status).not.toBe(0);
  });

  test('when instance metadata is unreachable: powers off before touching S3', () => {
    const r = runSandbox({ script, objects: jobObjects(), env: { SSP_NO_IMDS: '1' } });
    expect(summary(r)[0]).toBe('shutdown -P +75 shell-script-pipeline: hard cap reached');
    expect(summary(r).filter((l) => l.startsWith('aws '))).toEqual([]);
    expect(summary(r).at(-1)).toBe('poweroff');
  });

  test('when the job fails: still uploads the log and powers off', () => {
    const r = runSandbox({ script, objects: jobObjects(), env: { SSP_HEARTBEAT_RC: '1' } });
    expect(summary(r).slice(-5)).toEqual([
      'heartbeat run',
      `aws s3 cp $WORK/output.log s3://${RUN_PREFIX}/output.log`,
      `aws s3 cp $WORK/output.log s3://${RUN_PREFIX}/output.log`,
      `aws s3 cp $WORK/bootstrap.log s3://${RUN_PREFIX}/bootstrap.log`,
      'poweroff',
    ]);
  });

  test("without Node.js on the image: installs the distribution's package, then runs the job", () => {
    const r = runSandbox({ script, objects: jobObjects(), withNode: false, env: { SSP_DNF_INSTALLS_NODE: '1' } });
    const lines = summary(r);
    expect(lines).toContain('dnf install -y -q nodejs22');
    expect(lines.indexOf('dnf install -y -q nodejs22')).toBeLessThan(lines.indexOf(`aws s3 cp s3://${TASK_KEY} $WORK/task.json`));
    expect(lines.filter((l) => l.startsWith('curl')).every((l) => l.includes('http://169.254.169.254/'))).toBe(true);
    expect(lines).toContain('heartbeat run');
    expect(lines.at(-1)).toBe('poweroff');
  });

  test('the synthesized UserData makes the same calls as the rendered bootstrap', () => {
    const bucket = /BUCKET='([^']*)'/.exec(fromTemplate)![1];
    const runtime = /RUNTIME_URL='s3:\/\/([^']*)'/.exec(fromTemplate)![1];
    const roleId = /ROLE_ID='([^']*)'/.exec(fromTemplate)![1];
    const objects = {
      [`${bucket}/pipeline/tasks/${INSTANCE_ID}.json`]: taskDocument('jobs/nightly.sh'),
      [runtime]: '// heartbeat runtime',
      [`${bucket}/jobs/nightly.sh`]: 'echo nightly\n',
    };
    const rendered = renderBootstrap({ bucketName: bucket, roleId, runtimeUrl: `s3://${runtime}`, jobSeconds: '3600', heartbeatSeconds: '300' });
    const expected = summary(runSandbox({ script: rendered, objects }));
    expect(expected.at(-1)).toBe('poweroff');
    expect(summary(runSandbox({ script: fromTemplate, objects }))).toEqual(expected);
  });
});

// ---- sandbox runs of the Data Pipeline parity options ----------------------------------------------------

/** A task document like the state machine writes, with some fields changed. */
function taskDocumentWith(fields: Record<string, unknown>): string {
  return JSON.stringify({ ...JSON.parse(taskDocument('jobs/nightly.sh')), ...fields });
}

/** Index of the first faked call that matches, or -1. */
function callIndex(r: SandboxResult, match: (call: string[]) => boolean, from = 0): number {
  const i = r.calls.slice(from).findIndex(match);
  return i < 0 ? -1 : i + from;
}

const isHeartbeat = (command: string) => (c: string[]) => (c[0] === 'node' || c[0] === '.node') && c[1] === '$WORK/heartbeat.js' && c[2] === command;

describe('the bootstrap in a sandbox: userInput (the AWS sample\'s input)', () => {
  const script = renderBootstrap({ ...RENDER_OPTIONS, heartbeatSeconds: '1' });
  const objects = (userInput: string) => ({ ...jobObjects(), [TASK_KEY]: taskDocumentWith({ script: '', userInput }) });

  test('writes the text to $WORK/job/user-input.sh and runs it; nothing is copied from the bucket', () => {
    const userInput = '#!/bin/bash\necho "hello from userInput"\necho "in $(basename "$PWD")"\n';
    const r = runSandbox({ script, objects: objects(userInput), env: { SSP_RUN_JOB: '1' } });
    expect(fs.readFileSync(path.join(r.work, 'job', 'user-input.sh'), 'utf8')).toBe(userInput);
    expect(fs.readdirSync(path.join(r.work, 'job'))).toEqual(['user-input.sh']);
    const [run] = heartbeatCalls(r);
    expect(run[0]).toBe('run');
    expect(run.slice(run.indexOf('--'))).toEqual(['--', '/bin/bash', '$WORK/job/user-input.sh']);
    expect(r.sidecar('job-status')).toBe('0\n');
    expect(fs.readFileSync(path.join(r.s3, RUN_PREFIX, 'output.log'), 'utf8')).toContain('hello from userInput\nin job\n');
    // Only the task document and the runtime are read from S3; the bucket's other files stay there.
    expect(summary(r).filter((l) => l.startsWith('aws ') && l.includes(' s3://') && !l.includes('s3://job-bucket/pipeline/runs/'))).toEqual([
      `aws s3 cp s3://${TASK_KEY} $WORK/task.json`,
      `aws s3 cp s3://${RUNTIME_KEY} $WORK/heartbeat.js`,
    ]);
    expect(summary(r).filter((l) => l.includes('--recursive'))).toEqual([]);
    expect(summary(r).at(-1)).toBe('poweroff');
  });

  test('a userInput of exactly 16384 bytes is run', () => {
    const userInput = `echo ok\n#${'x'.repeat(16384 - 10)}\n`;
    expect(Buffer.byteLength(userInput)).toBe(16384);
    const r = runSandbox({ script, objects: objects(userInput) });
    expect(heartbeatCalls(r).map((c) => c[0])).toEqual(['run']);
  });

  test('a userInput over 16384 bytes: reports Input.UserInputTooLarge, runs nothing, powers off', () => {
    // 8200 characters, 16385 bytes: the limit is in bytes.
    const userInput = `echo too big\n#${'é'.repeat(8185)}\n`;
    expect(Buffer.byteLength(userInput)).toBe(16385);
    // A UTF-8 locale, as on an instance: counting characters instead of bytes would let this through.
    const r = runSandbox({ script, objects: objects(userInput), env: { SSP_RUN_JOB: '1', LANG: 'C.UTF-8' } });
    expect(heartbeatCalls(r)).toEqual([
      [
        'fail', '--task-file', '$WORK/task.json', '--error', 'Input.UserInputTooLarge',
        '--cause', 'userInput is 16385 bytes; the limit is 16384 (EC2 user data). Upload it as a script instead.',
      ],
    ]);
    expect(r.sidecar('job-status')).toBeUndefined();
    expect(summary(r).slice(-3)).toEqual(['heartbeat fail', `aws s3 cp $WORK/bootstrap.log s3://${RUN_PREFIX}/bootstrap.log`, 'poweroff']);
    expect(r.status).not.toBe(0);
  });
});

describe('the bootstrap in a sandbox: staging', () => {
  const script = renderBootstrap({ ...RENDER_OPTIONS, heartbeatSeconds: '1', stagingInputs: ['in/a', 'in/b'], stagingOutput: 'results' });
  const JOB = [
    'set -e',
    '[ -f "$SSP_INPUT_DIR/in/a/one.csv" ] && [ -f "$SSP_INPUT_DIR/in/a/deep/two.csv" ]',
    'cat "$SSP_INPUT_DIR/in/b/three.txt" > "$SSP_OUTPUT_DIR/result.txt"',
    'mkdir -p "$SSP_OUTPUT_DIR/sub"',
    'echo nested > "$SSP_OUTPUT_DIR/sub/x.txt"',
    'exit "${JOB_EXIT:-0}"',
    '',
  ].join('\n');
  const objects = {
    ...jobObjects(),
    [`${BUCKET}/jobs/nightly.sh`]: JOB,
    [`${BUCKET}/in/a/one.csv`]: '1\n',
    [`${BUCKET}/in/a/deep/two.csv`]: '2\n',
    [`${BUCKET}/in/b/three.txt`]: 'three\n',
    [`${BUCKET}/in/c/not-staged.txt`]: 'no\n',
  };
  const COPY_IN = (p: string) => `aws s3 cp --recursive s3://${BUCKET}/${p}/ $WORK/input/${p}/ --exclude pipeline/*`;
  const COPY_OUT = `aws s3 cp --recursive $WORK/output s3://${BUCKET}/results/exec-1/`;

  test('copies each input prefix to $SSP_INPUT_DIR/<prefix>/ before the job, which runs through the wrapper', () => {
    const r = runSandbox({ script, objects, env: { SSP_RUN_JOB: '1' } });
    const lines = summary(r);
    expect(lines.indexOf(COPY_IN('in/a'))).toBeGreaterThan(lines.indexOf(`aws s3 cp --recursive s3://${BUCKET}/jobs/ $WORK/job/jobs/ --exclude pipeline/*`));
    expect(lines.indexOf(COPY_IN('in/b'))).toBeGreaterThan(lines.indexOf(COPY_IN('in/a')));
    expect(lines.indexOf('heartbeat run')).toBeGreaterThan(lines.indexOf(COPY_IN('in/b')));
    expect(fs.readFileSync(path.join(r.work, 'input/in/a/deep/two.csv'), 'utf8')).toBe('2\n');
    expect(fs.existsSync(path.join(r.work, 'input/in/c'))).toBe(false);
    const [run] = heartbeatCalls(r);
    expect(run.slice(run.indexOf('--'))).toEqual(['--', '/bin/bash', '$WORK/run-job.sh', '$WORK/job/jobs/nightly.sh']);
    expect(r.sidecar('job-status')).toBe('0\n');
  });

  test('a job that succeeds: $SSP_OUTPUT_DIR lands under <outputPrefix>/<execution>/, before the result is reported', () => {
    const r = runSandbox({ script, objects, env: { SSP_RUN_JOB: '1' } });
    const out = path.join(r.s3, BUCKET, 'results', 'exec-1');
    expect(fs.readFileSync(path.join(out, 'result.txt'), 'utf8')).toBe('three\n');
    expect(fs.readFileSync(path.join(out, 'sub', 'x.txt'), 'utf8')).toBe('nested\n');
    const lines = summary(r);
    // Inside the job: after the run starts, before the before-report hook uploads the log.
    expect(lines.indexOf(COPY_OUT)).toBeGreaterThan(lines.indexOf('heartbeat run'));
    expect(lines.indexOf(COPY_OUT)).toBeLessThan(lines.indexOf(`aws s3 cp $WORK/output.log s3://${RUN_PREFIX}/output.log`));
  });

  test('a job that fails: its exit status stands and nothing is copied out', () => {
    const r = runSandbox({ script, objects, env: { SSP_RUN_JOB: '1', JOB_EXIT: '3' } });
    expect(r.sidecar('job-status')).toBe('3\n');
    expect(summary(r)).not.toContain(COPY_OUT);
    expect(fs.existsSync(path.join(r.s3, BUCKET, 'results'))).toBe(false);
  });

  test('a job that succeeds but whose output cannot be copied out fails with exit 97', () => {
    const r = runSandbox({ script, objects, env: { SSP_RUN_JOB: '1', SSP_FAIL_COPY_TO: `s3://${BUCKET}/results/*` } });
    expect(summary(r)).toContain(COPY_OUT);
    expect(r.sidecar('job-status')).toBe('97\n');
    expect(fs.readFileSync(path.join(r.s3, RUN_PREFIX, 'output.log'), 'utf8')).toContain(
      `[bootstrap] could not copy ${path.join(r.work, 'output')} to s3://${BUCKET}/results/exec-1/`,
    );
  });

  test('an input prefix that cannot be copied: reports Bootstrap.Failed naming it, runs nothing', () => {
    const r = runSandbox({ script, objects, env: { SSP_RUN_JOB: '1', SSP_FAIL_COPY_FROM: `s3://${BUCKET}/in/b/` } });
    expect(heartbeatCalls(r)).toEqual([
      ['fail', '--task-file', '$WORK/task.json', '--error', 'Bootstrap.Failed', '--cause', `could not stage s3://${BUCKET}/in/b/ in`],
    ]);
    expect(r.sidecar('job-status')).toBeUndefined();
    expect(summary(r).at(-1)).toBe('poweroff');
  });

  test('without staging: both directories exist and are exported to the job, which runs directly', () => {
    const job = 'echo "input=$SSP_INPUT_DIR output=$SSP_OUTPUT_DIR"; [ -d "$SSP_INPUT_DIR" ] && [ -d "$SSP_OUTPUT_DIR" ]\n';
    const r = runSandbox({
      script: renderBootstrap({ ...RENDER_OPTIONS, heartbeatSeconds: '1' }),
      objects: { ...jobObjects(), [`${BUCKET}/jobs/nightly.sh`]: job },
      env: { SSP_RUN_JOB: '1' },
    });
    expect(r.sidecar('job-status')).toBe('0\n');
    expect(fs.readFileSync(path.join(r.s3, RUN_PREFIX, 'output.log'), 'utf8')).toContain(
      `input=${path.join(r.work, 'input')} output=${path.join(r.work, 'output')}`,
    );
    expect(heartbeatCalls(r)[0].slice(-3)).toEqual(['--', '/bin/bash', '$WORK/job/jobs/nightly.sh']);
  });
});

describe('the bootstrap in a sandbox: job log group', () => {
  const script = renderBootstrap({ ...RENDER_OPTIONS, heartbeatSeconds: '1', jobLogGroup: 'ssp-job-logs' });
  const STREAM = `exec-1/${INSTANCE_ID}`;

  test('the before-report hook creates the stream <execution>/<instance> and puts one event per line of the log', () => {
    const objects = { ...jobObjects(), [`${BUCKET}/jobs/nightly.sh`]: "printf 'first\\n\\nthird\\n'\n" };
    const before = Date.now();
    const r = runSandbox({ script, objects, env: { SSP_RUN_JOB: '1' } });
    const lines = summary(r);
    const create = `aws logs create-log-stream --log-group-name ssp-job-logs --log-stream-name ${STREAM}`;
    const put = `aws logs put-log-events --log-group-name ssp-job-logs --log-stream-name ${STREAM} --log-events file://$WORK/log-events-0.json`;
    expect(lines.filter((l) => l.startsWith('aws logs '))).toEqual([create, put]);
    // In the hook: after the job, after the log went to the bucket, before the trap's own uploads.
    const hookUpload = lines.indexOf(`aws s3 cp $WORK/output.log s3://${RUN_PREFIX}/output.log`);
    expect(hookUpload).toBeGreaterThan(lines.indexOf('heartbeat run'));
    expect(lines.indexOf(create)).toBeGreaterThan(hookUpload);
    expect(lines.indexOf(put)).toBeLessThan(lines.lastIndexOf(`aws s3 cp $WORK/output.log s3://${RUN_PREFIX}/output.log`));

    const batches = r.sidecar('log-events')!.trim().split('\n').map((l) => JSON.parse(l));
    expect(batches).toHaveLength(1);
    // 'job output' is what the fake runtime itself writes to the log; an empty line is sent as ' '.
    expect(batches[0].map((e: any) => e.message)).toEqual(['job output', 'first', ' ', 'third']);
    for (const e of batches[0]) {
      expect(Object.keys(e).sort()).toEqual(['message', 'timestamp']);
      expect(e.timestamp).toBeGreaterThanOrEqual(before);
      expect(e.timestamp).toBeLessThanOrEqual(Date.now());
    }
  });

  test('without a job log group, nothing goes to CloudWatch Logs', () => {
    const r = runSandbox({ script: renderBootstrap({ ...RENDER_OPTIONS, heartbeatSeconds: '1' }), objects: jobObjects(), env: { SSP_RUN_JOB: '1' } });
    expect(summary(r).filter((l) => l.startsWith('aws logs '))).toEqual([]);
    expect(r.sidecar('log-events')).toBeUndefined();
  });
});
