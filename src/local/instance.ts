/**
 * The local "instance": the pipeline's own user data (the bootstrap, from the template) run by bash in a temporary
 * folder, as the current user. Everything in it that would reach AWS or act on the machine is a small fake on PATH:
 * - `aws s3 cp` and `aws s3api get-object`/`head-bucket` read and write the local bucket folders
 *   (`<s3Root>/<bucket>/<key>`), `aws stepfunctions send-task-*` goes to the local endpoint, `aws logs` succeeds;
 * - `curl` answers only the instance metadata calls the bootstrap makes: an IMDSv2 token (PUT), then instance-id and
 *   placement/region (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html);
 * - `shutdown`, `poweroff` and `sync` do nothing; `dnf`, `yum` and `apt-get` fail (Node.js is the one running this);
 * - `node` is this Node.js.
 * The bootstrap's work folder (/opt/shell-script-pipeline) is moved into the temporary folder in a copy of the text.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { WORK_DIR } from '../protocol';

const FAKES: Record<string, string> = {
  'shutdown': 'exit 0',
  'poweroff': 'exit 0',
  'sync': 'exit 0',
  'dnf': 'exit 1',
  'yum': 'exit 1',
  'apt-get': 'exit 1',
  'curl': `url=''; put=0
while [ $# -gt 0 ]; do
  case "$1" in
    -X) [ "$2" = PUT ] && put=1; shift ;;
    -H) shift ;;
    http*) url="$1" ;;
  esac
  shift
done
case "$url" in
  http://169.254.169.254/latest/api/token) [ "$put" = 1 ] && { printf 'local-imds-token'; exit 0; } ;;
  http://169.254.169.254/latest/meta-data/instance-id) printf '%s' "$SSP_LOCAL_INSTANCE_ID"; exit 0 ;;
  http://169.254.169.254/latest/meta-data/placement/region) printf '%s' "$AWS_REGION"; exit 0 ;;
esac
echo "curl: the local instance answers only the instance metadata the bootstrap reads, not $url" >&2
exit 22`,
  'aws': `# Exit codes as the AWS CLI's (https://docs.aws.amazon.com/cli/latest/userguide/cli-chap-returncodes.html): 252 for a
# command line it cannot parse, 254 when the service returned an error.
if [ "$1" = logs ]; then exit 0; fi
# Step Functions (the bootstrap's first heartbeats and its failure report before the runtime runs): the request file
# of --cli-input-json goes to the local endpoint, and an error is printed the way the CLI prints a service error,
# "An error occurred (<code>) when calling the <Operation> operation: <message>".
if [ "$1" = stepfunctions ]; then
  case "$2" in
    send-task-heartbeat) operation=SendTaskHeartbeat ;;
    send-task-failure) operation=SendTaskFailure ;;
    send-task-success) operation=SendTaskSuccess ;;
    *) echo "aws: the local instance fakes only the Step Functions task answers, not: $*" >&2; exit 252 ;;
  esac
  [ "$3" = --cli-input-json ] && [ -f "\${4#file://}" ] || { echo 'aws: expected --cli-input-json file://<request>' >&2; exit 252; }
  exec node -e '
const [operation, file] = process.argv.slice(1);
const body = require("fs").readFileSync(file, "utf8");
fetch(process.env.AWS_ENDPOINT_URL_SFN, { method: "POST", body, headers: { "content-type": "application/x-amz-json-1.0", "x-amz-target": "AWSStepFunctions." + operation } })
  .then(async (res) => {
    if (res.ok) { process.stdout.write(await res.text() + "\\n"); return; }
    const e = await res.json().catch(() => ({}));
    const code = String(e.__type ?? res.status).split("#").pop();
    process.stderr.write("An error occurred (" + code + ") when calling the " + operation + " operation: " + (e.message ?? e.Message ?? "") + "\\n");
    process.exitCode = 254;
  })
  .catch((e) => { process.stderr.write("Could not connect to the endpoint URL: " + e.message + "\\n"); process.exitCode = 255; });
' "$operation" "\${4#file://}"
fi
# s3api get-object and head-bucket (the bootstrap's owner-checked reads). The local bucket folders have no owner, so
# --expected-bucket-owner is accepted as given.
if [ "$1" = s3api ]; then
  command=$2; shift 2; bucket=''; key=''; out=''
  while [ $# -gt 0 ]; do
    case "$1" in
      --bucket) bucket="$2"; shift ;;
      --key) key="$2"; shift ;;
      --expected-bucket-owner) shift ;;
      --*) echo "Unknown options: $1" >&2; exit 252 ;;
      *) out="$1" ;;
    esac
    shift
  done
  [ -d "$SSP_LOCAL_S3/$bucket" ] || { echo 'An error occurred (404) when calling the HeadBucket operation: Not Found' >&2; exit 254; }
  case "$command" in
    head-bucket) exit 0 ;;
    get-object)
      [ -f "$SSP_LOCAL_S3/$bucket/$key" ] || { echo 'An error occurred (NoSuchKey) when calling the GetObject operation: The specified key does not exist.' >&2; exit 254; }
      cp "$SSP_LOCAL_S3/$bucket/$key" "$out" && printf '{"ContentLength": %s}\\n' "$(wc -c < "$out")"; exit ;;
  esac
  echo "aws: the local instance fakes only s3api get-object and head-bucket, not: s3api $command" >&2; exit 252
fi
[ "$1" = s3 ] && [ "$2" = cp ] || { echo "aws: the local instance fakes only 'aws s3 cp', 'aws s3api', 'aws stepfunctions' and 'aws logs', not: $*" >&2; exit 2; }
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
map() { case "$1" in s3://*) printf '%s/%s' "$SSP_LOCAL_S3" "\${1#s3://}" ;; *) printf '%s' "$1" ;; esac; }
src=$(map "\${pos[0]}"); dst=$(map "\${pos[1]}")
if [ "$recursive" = 1 ]; then
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

/** Commands the user data must not call by an absolute path (that would bypass the fakes). */
const UNSAFE = /\/s?bin\/(poweroff|shutdown|halt|reboot|systemctl|init|telinit)\b|\bsystemctl\b|\bsudo\b/;

export interface InstanceOptions {
  /** The temporary folder of this instance. */
  readonly root: string;
  /** The folder that holds one folder per bucket. */
  readonly s3Root: string;
  readonly instanceId: string;
  /** The user data text (decoded). */
  readonly userData: string;
  /** Environment for the runtime: endpoints, Region, credentials. */
  readonly env: Record<string, string>;
  /** Each line the bootstrap prints. */
  readonly onBootstrapLine: (line: string) => void;
}

export class LocalInstance {
  public readonly work: string;
  private readonly child: ChildProcess;
  public readonly exited: Promise<number | null>;

  constructor(o: InstanceOptions) {
    if (UNSAFE.test(o.userData)) throw new Error('the user data calls a power or privilege command by path; the local runner will not run it');
    if (!o.userData.includes(WORK_DIR)) throw new Error(`the user data does not use ${WORK_DIR}; the local runner cannot move its work folder`);
    const fakebin = path.join(o.root, 'fakebin');
    this.work = path.join(o.root, 'work');
    const home = path.join(o.root, 'home');
    for (const d of [fakebin, home]) fs.mkdirSync(d, { recursive: true });
    for (const [name, body] of Object.entries(FAKES)) fs.writeFileSync(path.join(fakebin, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
    fs.symlinkSync(process.execPath, path.join(fakebin, 'node'));

    const env: NodeJS.ProcessEnv = {
      // The fakes first (so `aws` is the fake one, for the job too); then the user's own tools, which the script may use
      // (it runs as this user, unisolated). The credentials in o.env are dummies, so nothing here can sign for the user.
      PATH: `${fakebin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      HOME: home,
      LANG: process.env.LANG ?? 'C.UTF-8',
      TMPDIR: process.env.TMPDIR ?? '/tmp',
      SSP_LOCAL_S3: o.s3Root,
      SSP_LOCAL_INSTANCE_ID: o.instanceId,
      ...o.env,
    };
    // Check in this exact environment that the power commands are the fakes.
    const probe = spawnSync('/bin/bash', ['-c', 'command -v poweroff; command -v shutdown; command -v aws; command -v curl'], { env, encoding: 'utf8' });
    const expected = ['poweroff', 'shutdown', 'aws', 'curl'].map((t) => path.join(fakebin, t)).join('\n');
    if (probe.stdout.trim() !== expected) throw new Error(`the local instance is not safe to start: ${probe.stdout.trim().split('\n').join(', ')}`);

    const file = path.join(o.root, 'user-data.sh');
    fs.writeFileSync(file, o.userData.split(WORK_DIR).join(this.work), { mode: 0o700 });
    this.child = spawn('/bin/bash', [file], { env, cwd: o.root, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let pending = '';
    const onData = (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const l of lines) o.onBootstrapLine(l);
    };
    this.child.stdout!.on('data', onData);
    this.child.stderr!.on('data', onData);
    this.exited = new Promise((resolve) =>
      this.child.on('close', (code) => {
        if (pending) o.onBootstrapLine(pending);
        resolve(code);
      }),
    );
  }

  /**
   * TerminateInstances: the bootstrap normally powers off (exits) on its own right after reporting; give it
   * `graceMs` to do so, then end it and everything it started.
   */
  public async terminate(graceMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([this.exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), graceMs)))]);
    clearTimeout(timer);
    if (!done) {
      try {
        process.kill(-this.child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      await this.exited;
    }
  }
}
