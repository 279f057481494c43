/**
 * The bootstrap run in a sandbox: bash in a throwaway directory where every command that would touch AWS or the
 * machine (aws, curl, node, shutdown, poweroff, dnf, ...) is a fake that logs its arguments, with S3 simulated by a folder.
 */
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { WORK_DIR } from './bootstrap';

/** The heartbeat runtime the fake asset bucket holds (the fake node never runs it). */
export const RUNTIME_TEXT = '// heartbeat runtime';
/** The account that owns every bucket of the fake S3, unless SSP_FOREIGN_BUCKETS names it. */
export const ACCOUNT = '111111111111';

export function sha256(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}

/** The bootstrap settings the sandbox runs use (and the fake S3 holds objects for). */
export const RENDER_OPTIONS = {
  bucketName: 'job-bucket',
  accountId: ACCOUNT,
  roleId: 'AROAEXAMPLEROLEID',
  runtimeUrl: 's3://asset-bucket/runtime.js',
  runtimeSha256: sha256(RUNTIME_TEXT),
  jobSeconds: '3600',
  heartbeatSeconds: '300',
};

const tmpDirs: string[] = [];
/** A fresh temporary directory, removed by `cleanupSandboxes()`. */
export function tmpDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.push(dir);
  return dir;
}

/** Removes every directory `tmpDir` made; call it from afterAll. */
export function cleanupSandboxes(): void {
  for (const d of tmpDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/** Runs `bash -n` on a script: its stderr and exit status. */
export function bashSyntaxCheck(script: string): { stderr: string; status: number | null } {
  const file = path.join(tmpDir('ssp-bash-n-'), 'script.sh');
  fs.writeFileSync(file, script);
  const r = spawnSync('/bin/bash', ['-n', file], { encoding: 'utf8' });
  return { stderr: r.stderr, status: r.status };
}

/**
 * Runs the bootstrap with bash in a throwaway directory. PATH holds only
 *  - fakes for everything that would reach AWS or act on the machine (aws, curl, node, shutdown, poweroff, dnf,
 *    yum, apt-get, sync, sleep), each logging its arguments, with S3 simulated by a folder whose buckets all belong
 *    to ACCOUNT (but those in SSP_FOREIGN_BUCKETS), and the Step Functions requests the AWS CLI is given recorded; and
 *  - links to a short list of harmless real tools (bash, tee, mkdir, cp, date, sha256sum, python3, ...).
 * Before each run it checks, in the very environment the script gets, that `poweroff` and `shutdown` resolve to the
 * fakes and that no other power-management command can be found; and that the script text calls none of them by an
 * absolute path. The work directory is moved to the sandbox in a copy of the script text.
 */
export const INSTANCE_ID = 'i-0123456789abcdef0';
const HARMLESS_TOOLS = ['bash', 'tee', 'mkdir', 'dirname', 'basename', 'chmod', 'cp', 'find', 'cat', 'wc', 'date', 'sha256sum'];
/** The one kill the bootstrap may do: its own heartbeat loop, started with `&` and PID kept in a file. */
const ALLOWED_KILL = 'kill "$HEARTBEATER"';
const FORBIDDEN_TOOLS = ['halt', 'reboot', 'systemctl', 'init', 'telinit', 'kexec', 'sudo', 'rm', 'pkill', 'killall'];

// One write per call, so that calls logged at the same time (activity mode's claimer runs in the background) never interleave.
const LOG_CALL = '{ ssp_line=$(basename "$0"); for ssp_arg in "$@"; do ssp_line+=$\'\\t\'"$ssp_arg"; done; printf \'%s\\n\' "$ssp_line"; } >> "$SSP_CALLS"';

const FAKES: Record<string, string> = {
  'shutdown': 'exit 0',
  'poweroff': 'exit 0',
  'sync': 'exit 0',
  'yum': 'exit 1',
  'apt-get': 'exit 1',
  // Every wait is short here (SSP_SLEEP seconds, default 0.1); the call log keeps the length asked for.
  'sleep': 'exec "$SSP_REAL_SLEEP" "${SSP_SLEEP:-0.1}"',
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
command="$2"; log=''; hook=''
while [ $# -gt 0 ]; do
  case "$1" in
    --log-file) log="$2"; shift ;;
    --before-report) hook="$2"; shift ;;
    --) break ;;
  esac
  shift
done
# Like the runtime: its first heartbeat goes out before the job starts.
[ "$command" = run ] && printf 'runtime-first-heartbeat\\n' >> "$SSP_CALLS"
# SSP_RUN_JOB: run the command after -- like the runtime does (output to the log), and record its exit status;
# otherwise a canned line stands for the job's output.
if [ -n "\${SSP_RUN_JOB:-}" ] && [ "\${1:-}" = -- ]; then
  shift
  "$@" >> "$log" 2>&1
  echo "$?" > "$SSP_CALLS.job-status"
elif [ -n "$log" ]; then
  echo 'job output' >> "$log"
fi
# SSP_RUNTIME_SECONDS: the runtime takes that long (after the job, if any) before it reports, like a job that runs.
[ -n "\${SSP_RUNTIME_SECONDS:-}" ] && "$SSP_REAL_SLEEP" "$SSP_RUNTIME_SECONDS"
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
  'aws': `# What the real CLI does with an option it does not know: "Unknown options: ..." and exit 252 (v2; v1 exits 255).
# Return codes: https://docs.aws.amazon.com/cli/latest/userguide/cli-chap-returncodes.html (252: the command line could
# not be parsed; 254: the service returned an error).
unknown() { echo "Unknown options: $1" >&2; exit 252; }
# The account that owns a bucket of the fake S3: ${ACCOUNT}, unless SSP_FOREIGN_BUCKETS (space-separated) names it.
owner_of() { case " \${SSP_FOREIGN_BUCKETS:-} " in *" $1 "*) echo 222222222222 ;; *) echo ${ACCOUNT} ;; esac; }
# An expected bucket owner that is not the owner: S3 answers 403 Access Denied
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-owner-condition.html).
check_owner() {
  if [ -n "$2" ] && [ "$2" != "$(owner_of "$1")" ]; then
    echo "An error occurred (AccessDenied) when calling the $3 operation: Access Denied" >&2; exit 254
  fi
}
# CloudWatch Logs: create-log-stream succeeds; put-log-events records the batch it was given (one JSON per line).
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
# Step Functions: the request file of --cli-input-json is recorded (operation TAB request) in $SSP_CALLS.sfn. With
# SSP_SFN_ERROR=<code> every call fails the way the CLI prints a service error (checked against aws-cli 1.45 and a
# local endpoint): "An error occurred (<code>) when calling the <Operation> operation: <message>".
if [ "$1" = stepfunctions ]; then
  case "$2" in
    send-task-heartbeat) operation=SendTaskHeartbeat ;;
    send-task-failure) operation=SendTaskFailure ;;
    send-task-success) operation=SendTaskSuccess ;;
    *) echo "Invalid choice: $2" >&2; exit 252 ;;
  esac
  command=$2; shift 2; request=''
  while [ $# -gt 0 ]; do
    case "$1" in --cli-input-json) request="\${2#file://}"; shift ;; *) unknown "$1" ;; esac
    shift
  done
  [ -f "$request" ] || { echo 'the request file is missing' >&2; exit 252; }
  printf '%s\\t%s\\n' "$command" "$(cat "$request")" >> "$SSP_CALLS.sfn"
  if [ -n "\${SSP_SFN_ERROR:-}" ]; then
    echo "An error occurred ($SSP_SFN_ERROR) when calling the $operation operation: Task Timed Out: 'Provided task does not exist anymore'" >&2; exit 254
  fi
  exit 0
fi
# s3api get-object / head-bucket, with --expected-bucket-owner.
if [ "$1" = s3api ]; then
  command=$2; shift 2; bucket=''; key=''; owner=''; out=''
  while [ $# -gt 0 ]; do
    case "$1" in
      --bucket) bucket="$2"; shift ;;
      --key) key="$2"; shift ;;
      --expected-bucket-owner) owner="$2"; shift ;;
      --*) unknown "$1" ;;
      *) out="$1" ;;
    esac
    shift
  done
  [ -d "$SSP_S3/$bucket" ] || { echo "An error occurred (404) when calling the HeadBucket operation: Not Found" >&2; exit 254; }
  case "$command" in
    head-bucket) check_owner "$bucket" "$owner" HeadBucket; exit 0 ;;
    get-object)
      check_owner "$bucket" "$owner" GetObject
      [ -f "$SSP_S3/$bucket/$key" ] || { echo 'An error occurred (NoSuchKey) when calling the GetObject operation: The specified key does not exist.' >&2; exit 254; }
      cp "$SSP_S3/$bucket/$key" "$out" && printf '{"ContentLength": %s}\\n' "$(wc -c < "$out")"; exit ;;
  esac
  exit 252
fi
[ "$1" = s3 ] && [ "$2" = cp ] || exit 2
shift 2
recursive=0; excludes=(); pos=()
while [ $# -gt 0 ]; do
  case "$1" in
    --only-show-errors) ;;
    --recursive) recursive=1 ;;
    --exclude) excludes+=("$2"); shift ;;
    --*) unknown "$1" ;;
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
  # Like the CLI's filters (awscli/customizations/s3/filters.py): each pattern is matched against the path relative
  # to the source, with fnmatch, where * also matches '/' (as it does in a [[ == ]] pattern); the last match wins.
  (cd "$src" && find . -type f) | while IFS= read -r f; do
    rel="\${f#./}"
    skip=0
    for pattern in \${excludes[@]+"\${excludes[@]}"}; do
      if [[ "$rel" == $pattern ]]; then skip=1; fi
    done
    [ "$skip" = 1 ] && continue
    mkdir -p "$(dirname "$dst/$rel")" && cp "$src/$rel" "$dst/$rel"
  done
  exit 0
fi
[ -f "$src" ] || { echo 'fatal error: An error occurred (404) when calling the HeadObject operation: Not Found' >&2; exit 1; }
mkdir -p "$(dirname "$dst")" && cp "$src" "$dst"`,
};

export interface SandboxOptions {
  /** The bootstrap text (WORK_DIR is replaced in a copy). */
  readonly script: string;
  /** Objects in the fake S3, keyed `<bucket>/<key>`. */
  readonly objects?: Record<string, string>;
  /** Whether Node.js is on the image (else the fake dnf installs it when SSP_DNF_INSTALLS_NODE is set). */
  readonly withNode?: boolean;
  /** Whether python3 is on the image (it is on Amazon Linux 2023). */
  readonly withPython?: boolean;
  readonly env?: Record<string, string>;
}

export interface SandboxResult {
  readonly status: number | null;
  readonly output: string;
  /** Every faked command in call order: [name, ...args], with the work directory written as $WORK. */
  readonly calls: string[][];
  readonly work: string;
  readonly s3: string;
  readonly cwds: string[];
  /**
   * Files the fakes leave next to the call log: `job-status` (SSP_RUN_JOB), `log-events` (put-log-events batches),
   * `sfn` (the Step Functions requests the AWS CLI was given, one `<command>\t<request JSON>` per line).
   */
  readonly sidecar: (name: 'job-status' | 'log-events' | 'sfn') => string | undefined;
}

function whichReal(tool: string): string {
  const r = spawnSync('/bin/bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
  const p = r.stdout.trim();
  if (r.status !== 0 || !p.startsWith('/')) throw new Error(`sandbox: no real ${tool}`);
  return p;
}

let python: string | undefined;
function realPython(): string {
  if (python === undefined) {
    const r = spawnSync(whichReal('python3'), ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
    python = r.stdout.trim();
    if (r.status !== 0 || !python.startsWith('/')) throw new Error('sandbox: no real python3');
  }
  return python;
}

export function runSandbox(o: SandboxOptions): SandboxResult {
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
  // python3 (the bootstrap makes its Step Functions requests with it): the interpreter itself, not a version manager's shim.
  if (o.withPython !== false) fs.symlinkSync(realPython(), path.join(realbin, 'python3'));

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
  // Safety gate 2: the script reaches no power command by absolute path, and does not kill or remove anything but
  // its own heartbeat loop (whose PID it keeps in its work directory).
  const checked = o.script.split(ALLOWED_KILL).join('');
  if (/\/s?bin\/(poweroff|shutdown|halt|reboot|systemctl|init|telinit)\b|\bsystemctl\b|\bkill\b|\brm\s|\bsudo\b/.test(checked)) {
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

const BASH_HEARTBEAT = ['aws', 'stepfunctions', 'send-task-heartbeat'];
const isBashHeartbeat = (c: string[]) => BASH_HEARTBEAT.every((word, i) => c[i] === word);

/**
 * One readable line per faked call; node -e (reading the task document) is left out, and so are the heartbeats of the
 * bootstrap's background loop, whose number depends on timing (the first, synchronous one stays; see `bashHeartbeats`).
 */
export function summary(r: SandboxResult): string[] {
  const out: string[] = [];
  const first = r.calls.findIndex(isBashHeartbeat);
  for (const [i, [cmd, ...args]] of r.calls.entries()) {
    if (i > first && isBashHeartbeat([cmd, ...args])) continue;
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

export function heartbeatCalls(r: SandboxResult): string[][] {
  return r.calls.filter(([cmd, first]) => (cmd === 'node' || cmd === '.node') && first !== '-e').map(([, ...args]) => args.slice(1));
}

/** Indexes (in `calls`) of every heartbeat the bootstrap sent with the AWS CLI. */
export function bashHeartbeats(r: SandboxResult): number[] {
  return r.calls.flatMap((c, i) => (isBashHeartbeat(c) ? [i] : []));
}

/** The Step Functions requests the AWS CLI was given (from --cli-input-json files), in order. */
export function sfnRequests(r: SandboxResult): Array<{ command: string; request: any }> {
  return (r.sidecar('sfn') ?? '')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [command, json] = l.split('\t');
      return { command, request: JSON.parse(json) };
    });
}

/** The permission bits of a file the bootstrap left in its work directory, e.g. '600'. */
export function modeOf(r: SandboxResult, file: string): string {
  return fs.statSync(path.join(r.work, file)).mode.toString(8).slice(-3);
}

/** The run log the bootstrap left on the instance (its phase lines, then the job's output). */
export function runLog(r: SandboxResult): string {
  const file = path.join(r.work, 'output.log');
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
}

export const BUCKET = RENDER_OPTIONS.bucketName;
export const TASK_KEY = `${BUCKET}/pipeline/tasks/${INSTANCE_ID}.json`;
export const RUNTIME_KEY = 'asset-bucket/runtime.js';
/** This instance's folder in the fake job bucket: `pipeline/runs/<aws:userid>`. */
export const INSTANCE_FOLDER = `${BUCKET}/pipeline/runs/${RENDER_OPTIONS.roleId}:${INSTANCE_ID}`;
/** The run's folder in the fake job bucket: the instance's folder, then the execution's. */
export const RUN_PREFIX = `${INSTANCE_FOLDER}/exec-1`;

export function taskDocument(script: string): string {
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
export function jobObjects(script = 'jobs/nightly.sh'): Record<string, string> {
  return {
    [TASK_KEY]: taskDocument(script),
    [RUNTIME_KEY]: RUNTIME_TEXT,
    [`${BUCKET}/jobs/nightly.sh`]: 'echo nightly\n',
    [`${BUCKET}/jobs/lib/helpers.sh`]: 'echo helpers\n',
    [`${BUCKET}/other/unrelated.sh`]: 'echo other\n',
  };
}

export const IMDS = [
  'curl PUT http://169.254.169.254/latest/api/token',
  'curl GET http://169.254.169.254/latest/meta-data/instance-id',
  'curl PUT http://169.254.169.254/latest/api/token',
  'curl GET http://169.254.169.254/latest/meta-data/placement/region',
];


/** A task document like the state machine writes, with some fields changed. */
export function taskDocumentWith(fields: Record<string, unknown>): string {
  return JSON.stringify({ ...JSON.parse(taskDocument('jobs/nightly.sh')), ...fields });
}

/** Index of the first faked call that matches, or -1. */
export function callIndex(r: SandboxResult, match: (call: string[]) => boolean, from = 0): number {
  const i = r.calls.slice(from).findIndex(match);
  return i < 0 ? -1 : i + from;
}

export const isHeartbeat = (command: string) => (c: string[]) => (c[0] === 'node' || c[0] === '.node') && c[1] === '$WORK/heartbeat.js' && c[2] === command;
