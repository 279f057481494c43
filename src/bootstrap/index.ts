import {
  BOOT_PHASE_MARK,
  CLI_EXIT,
  INPUT_ERRORS,
  JOB_ERRORS,
  MAX_USER_INPUT_BYTES,
  RESERVED_PREFIX,
  RUNS_PREFIX,
  WORK_DIR,
} from '../protocol';

/** Minutes past the job timeout at which the instance powers itself off. */
export const HARD_CAP_GRACE_MINUTES = 15;

/** Where the bootstrap keeps its files on the instance (in the protocol: the local runner moves it). */
export { WORK_DIR };

/** What every bootstrap needs to know; values may be CDK tokens (resolved at deploy time). */
export interface BootstrapSettings {
  /** Name of the job bucket. */
  readonly bucketName: string;
  /**
   * The account that owns the job bucket and the CDK asset bucket (the stack's account). Every S3 read of the
   * bootstrap names it as the expected bucket owner, so a bucket of the same name in another account is refused.
   */
  readonly accountId: string;
  /** The instance role's RoleId: with the instance ID it forms the role session's `aws:userid`. */
  readonly roleId: string;
  /** `s3://` URL of the bundled heartbeat runtime. */
  readonly runtimeUrl: string;
  /** sha256 of the heartbeat runtime (hex), computed at synth time: the bootstrap runs no other file. */
  readonly runtimeSha256: string;
  /**
   * The job timeout in seconds, as text (may be a token). The instance powers itself off this long plus
   * HARD_CAP_GRACE_MINUTES after boot, whatever happens (self-destruct).
   */
  readonly jobSeconds: string;
  /** The heartbeat timeout in seconds, as text (may be a token): how long to wait for the task. */
  readonly heartbeatSeconds: string;
}

/** How the instance gets its task (set by the task hand-off). */
export interface TaskStep {
  /** Bash that leaves the task document in the file `$TASK`, or exits 1. */
  readonly script: string;
  /** Whether it needs the heartbeat runtime, so runs after the runtime is downloaded (else before). */
  readonly afterRuntime: boolean;
}

/**
 * The instance user data: a bash script that
 * 1. arms a self-destruct at the hard cap and a trap that uploads the logs and powers off on any exit
 *    (the instance is launched with shutdown behaviour "terminate", so power-off ends it);
 * 2. finds its instance ID and region from IMDSv2;
 * 3. gets its task (the `task` section, from the task hand-off) and, holding the token, heartbeats at once with the
 *    AWS CLI the image ships, then every HeartbeatSeconds/3 from a background loop, until the runtime has sent its own
 *    first heartbeat (the job's first process stops the loop);
 * 4. makes sure Node.js is there (from the distribution's own repository, nothing from the internet), fetches the
 *    heartbeat runtime and runs it only if its sha256 is the synthesized one (in activity mode these come before 3,
 *    since the runtime claims the task);
 * 5. copies the job's files from the bucket, fills `$SSP_INPUT_DIR` (`stageIn`) and runs the job command
 *    (`jobCommand`) under the heartbeat runtime, whose before-report hook uploads the log, publishes it further
 *    (`publishOutput`) and waits for what must end before the result is sent (`beforeResult`).
 *
 * The run log starts with one `ssp-phase <name> <epoch ms>` line per boot phase (BOOT_PHASES in the protocol).
 * Every S3 read names the stack's account as the expected bucket owner. Run artifacts go to
 * `pipeline/runs/<RoleId>:<InstanceId>/<execution>/`, the only folder the instance may write.
 *
 * Parts add to these named sections; the skeleton is the same for every pipeline. It carries no secret: the task
 * token only ever travels through the bucket object that only this instance's role session may read, or the activity,
 * and on the instance it stays in files only root may read, never on a command line.
 */
export class Bootstrap {
  private readonly exitSteps: string[] = [];
  private task?: TaskStep;
  private readonly stageInSteps: string[] = [];
  private jobCommand = 'JOB_CMD=(/bin/bash "$JOB")';
  private readonly hookVariables: string[] = [];
  private readonly publishSteps: string[] = [];
  private readonly beforeResultSteps: string[] = [];

  constructor(private readonly settings: BootstrapSettings) {}

  /** Lines the exit trap runs after uploading the logs, right before powering off. */
  public addExitStep(...lines: string[]): void {
    this.exitSteps.push(...lines);
  }

  /** How the instance gets its task: exactly one hand-off sets it. */
  public setTaskStep(step: TaskStep): void {
    if (this.task) throw new Error('the bootstrap already has a task step');
    this.task = step;
  }

  /** Commands that fill `$SSP_INPUT_DIR` before the job runs (each may call `fail_run "<why>"`). */
  public addStageIn(...commands: string[]): void {
    this.stageInSteps.push(...commands);
  }

  /** Bash that sets `JOB_CMD`, the command array the runtime runs; by default the script itself. */
  public setJobCommand(command: string): void {
    this.jobCommand = command;
  }

  /** Variables exported to the before-report hook: `NAME` or `NAME=value`. */
  public addHookVariable(...assignments: string[]): void {
    this.hookVariables.push(...assignments);
  }

  /** Hook steps that publish the job's output further, after the log went to the bucket. */
  public addPublishStep(block: string): void {
    this.publishSteps.push(block);
  }

  /** Hook steps that must finish before the result is sent (the workflow terminates the instance right after). */
  public addBeforeResultStep(line: string): void {
    this.beforeResultSteps.push(line);
  }

  /**
   * The script. What it relies on (sources here, not in the script: user data is limited to 16 KB):
   * - python3 is on the image: AL2023's system Python, https://docs.aws.amazon.com/linux/al2023/ug/python.html
   *   (and cloud-init, which runs user data, is Python). Without it the runtime sends the first heartbeat instead.
   * - `--cli-input-json` takes the request's own parameters only: an extra key is refused ("Unknown parameter in
   *   input", aws-cli 1.45.11, tried here), hence a request file holding just the token (and error and cause).
   * - A service error makes the CLI exit non-zero and print "An error occurred (<Code>) when calling the <Operation>
   *   operation: <message>" (aws-cli 1.45.11 against a local endpoint); TaskTimedOut, InvalidToken and TaskDoesNotExist
   *   are SendTaskHeartbeat's errors for a task that is over (@aws-sdk/client-sfn models; research
   *   sfn-api-task-timed-out.json, sfn-api-invalid-token.json), the same three the runtime stops on.
   * - `aws s3api get-object` and `head-bucket` take `--expected-bucket-owner`; the high-level `aws s3 cp` does not
   *   (its synopsis, https://docs.aws.amazon.com/cli/latest/reference/s3/cp.html; aws-cli 1.45.11 answers "Unknown
   *   options"). A bucket owned by another account answers 403
   *   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-owner-condition.html).
   * - `aws s3 cp --recursive` matches `--exclude` patterns against the whole path with the source's root prefixed, with
   *   fnmatch, where `*` also matches '/' (aws-cli awscli/customizations/s3/filters.py): from the bucket's root,
   *   excluding "star, slash, star" keeps only the root's own keys. The listing itself still covers the whole bucket (filters apply
   *   to what it lists).
   * - An execution name has no '/' or whitespace (StartExecution `name`,
   *   https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html).
   * - `/proc/<pid>/cmdline` is readable by every user unless /proc is mounted with hidepid (proc(5)), so the token is
   *   never an argument.
   */
  public render(): string {
    const o = this.settings;
    if (!this.task) throw new Error('the bootstrap has no task step: a task hand-off must set one');
    const taskStep = `${this.task.script}
chmod 600 "$TASK"
phase task-read
start_heartbeating`;
    const runtimeSteps = `${installNode()}\n\n${fetchRuntime()}`;
    const boot = this.task.afterRuntime ? `${runtimeSteps}\n\n${taskStep}` : `${taskStep}\n\n${runtimeSteps}`;
    return `#!/bin/bash
# shell-script-pipeline bootstrap: run one job under the heartbeat runtime, then power off (= terminate).
set -uo pipefail
BUCKET='${o.bucketName}'
ACCOUNT='${o.accountId}'
ROLE_ID='${o.roleId}'
RUNTIME_URL='${o.runtimeUrl}'
RUNTIME_SHA256='${o.runtimeSha256}'
JOB_SECONDS=${o.jobSeconds}
HARD_CAP_MINUTES=$(( (JOB_SECONDS + 59) / 60 + ${HARD_CAP_GRACE_MINUTES} ))
TASK_WAIT_SECONDS=${o.heartbeatSeconds}
WORK='${WORK_DIR}'
LOG="$WORK/output.log"
TASK="$WORK/task.json"
RUN_PREFIX='' NODE='' RUNTIME_READY='' CLI_ANSWERS=''

mkdir -p "$WORK/job"
# The run log opens with one line per boot phase, before anything the job prints.
phase() { echo "${BOOT_PHASE_MARK} $1 $(date +%s%3N)" >> "$LOG"; }
phase userdata-start
: > '${WORK_DIR}/heartbeater.pid'
exec > >(tee -a "$WORK/bootstrap.log") 2>&1

# Backstop 1: whatever happens below, the instance is gone after the hard cap.
shutdown -P "+$HARD_CAP_MINUTES" 'shell-script-pipeline: hard cap reached' || true

# Stops the heartbeat loop once: the PID file is emptied first, so no later call signals a reused PID.
stop_heartbeater() { local HEARTBEATER; read -r HEARTBEATER < '${WORK_DIR}/heartbeater.pid'; : > '${WORK_DIR}/heartbeater.pid'; [ -z "$HEARTBEATER" ] || kill "$HEARTBEATER"; } 2>/dev/null

# Backstop 2: on any exit of this script, upload what we have and power off.
finish() {
  local rc=$?
  stop_heartbeater
  echo "[bootstrap] exiting with status $rc"
  if [ -n "$RUN_PREFIX" ]; then
    [ -f "$LOG" ] && aws s3 cp --only-show-errors "$LOG" "s3://$BUCKET/$RUN_PREFIX/output.log" || true
    aws s3 cp --only-show-errors "$WORK/bootstrap.log" "s3://$BUCKET/$RUN_PREFIX/bootstrap.log" || true
  fi
${this.exitSteps.map((l) => `  ${l}\n`).join('')}  sync
  poweroff || shutdown -P now
}
trap finish EXIT

# sfn_request FILE [ERROR CAUSE]: a 0600 request for the task's token (never on a command line, where every user can
# read it), for the AWS CLI, by python3 (Node.js may not be there yet). Prints heartbeatSeconds and executionName.
sfn_request() {
  (umask 077 && python3 -c 'import json,sys;a=sys.argv;d=json.load(open(a[1]));r={"taskToken":d["taskToken"]}
if a[3:]:r.update(error=a[3],cause=a[4])
json.dump(r,open(a[2],"w"));print(int(d.get("heartbeatSeconds") or 0),d.get("executionName",""))' "$TASK" "$@")
}
sfn() { aws stepfunctions "$1" --cli-input-json "file://$2" 2>&1 >/dev/null; }

# Fails the run: reported by the verified runtime, else by the AWS CLI when the task is held.
fail_run() {
  echo "[bootstrap] $1"
  stop_heartbeater
  if [ -n "$RUNTIME_READY" ] && [ -s "$TASK" ]; then
    "$NODE" "$WORK/heartbeat.js" fail --task-file "$TASK" --error "\${2:-${JOB_ERRORS.BOOTSTRAP_FAILED}}" --cause "$1"
  elif [ -n "$CLI_ANSWERS" ] && sfn_request "$WORK/failure-request.json" "\${2:-${JOB_ERRORS.BOOTSTRAP_FAILED}}" "$1" >/dev/null; then
    sfn send-task-failure "$WORK/failure-request.json"
  else
    echo '[bootstrap] no task to report to: the workflow times this run out'
  fi
  exit 1
}

# The task's heartbeat timer runs from the moment the token was written (activity mode: claimed). Heartbeat at once,
# then every HeartbeatSeconds/3 until the runtime has sent its own first heartbeat: it starts the job only then, and
# the job's first process (job-start.sh) stops this loop. They overlap a moment; there is never a gap.
start_heartbeating() {
  local out seconds tries
  out=$(sfn_request "$WORK/heartbeat-request.json") || { echo '[bootstrap] no python3: the runtime sends the first heartbeat'; return 0; }
  CLI_ANSWERS=1
  seconds=\${out%% *}
  case "\${out#* }" in '' | */* | *[[:space:]]*) ;; *) RUN_PREFIX="$RUN_PREFIX/\${out#* }" ;; esac
  [ "$seconds" -gt 0 ] 2>/dev/null || seconds=$TASK_WAIT_SECONDS
  for tries in 1 2 3; do
    out=$(sfn send-task-heartbeat "$WORK/heartbeat-request.json") && { phase first-heartbeat; break; }
    echo "[bootstrap] heartbeat: $out"
    # The run is over on the Step Functions side.
    case "$out" in *'(TaskTimedOut)'* | *'(InvalidToken)'* | *'(TaskDoesNotExist)'*) exit 1 ;; esac
    [ "$tries" = 3 ] || sleep 2
  done
  (
    while sleep $((seconds / 3 > 0 ? seconds / 3 : 1)); do
      out=$(sfn send-task-heartbeat "$WORK/heartbeat-request.json") || echo "[bootstrap] heartbeat: $out"
    done
  ) &
  echo "$!" > '${WORK_DIR}/heartbeater.pid'
}

imds() {
  local token
  token=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token) &&
    curl -sf -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"
}
IID=$(imds instance-id) || { echo '[bootstrap] no instance ID from IMDS'; exit 1; }
AWS_REGION=$(imds placement/region) || { echo '[bootstrap] no region from IMDS'; exit 1; }
export AWS_REGION AWS_DEFAULT_REGION="$AWS_REGION"
# The only folder this instance may write: its aws:userid; the execution's folder goes inside.
RUN_PREFIX="${RUNS_PREFIX}$ROLE_ID:$IID"

${boot}

field() { "$NODE" -e 'const v = require(process.argv[1])[process.argv[2]]; process.stdout.write(String(v))' "$TASK" "$1"; }
EXECUTION=$(field executionName) || fail_run 'the task document is unreadable'
case "$EXECUTION" in '' | */*) fail_run "the task document names no usable execution ($EXECUTION)" ;; esac
RUN_PREFIX="${RUNS_PREFIX}$ROLE_ID:$IID/$EXECUTION"
SCRIPT=$(field script) || fail_run 'the task document has no script'

# "aws s3" copies cannot name the bucket's owner: make sure it is ours before reading it (job files, staging).
aws s3api head-bucket --bucket "$BUCKET" --expected-bucket-owner "$ACCOUNT" >/dev/null ||
  fail_run "the job bucket $BUCKET is not a bucket of account $ACCOUNT"
if [ -z "$SCRIPT" ]; then
  # Seed compatibility: {"userInput": "<bash>"} runs as the job, like the sample's user data did.
  JOB="$WORK/job/user-input.sh"
  "$NODE" -e 'process.stdout.write(require(process.argv[1]).userInput)' "$TASK" > "$JOB" || fail_run 'the task document has no userInput'
  size=$(wc -c < "$JOB")
  [ "$size" -le ${MAX_USER_INPUT_BYTES} ] ||
    fail_run "userInput is $size bytes; the limit is ${MAX_USER_INPUT_BYTES} (EC2 user data). Upload it as a script instead." '${INPUT_ERRORS.USER_INPUT_TOO_LARGE}'
  SCRIPT_DIR='.'
else
  # Checked before launch; checked again before it becomes a path.
  case "$SCRIPT" in
    /* | *..* | ${RESERVED_PREFIX}*) fail_run "the script key '$SCRIPT' is not allowed: no leading /, no .., nothing under ${RESERVED_PREFIX}" '${INPUT_ERRORS.RESERVED_KEY}' ;;
  esac
  SCRIPT_DIR=$(dirname "$SCRIPT")
  # The script's folder, sub-folders included; at the bucket's root, the root's own files only (not pipeline/).
  if [ "$SCRIPT_DIR" = '.' ]; then
    aws s3 cp --only-show-errors --recursive "s3://$BUCKET/" "$WORK/job/" --exclude '*/*' ||
      fail_run "could not copy the files at the root of s3://$BUCKET/ to the instance"
  else
    aws s3 cp --only-show-errors --recursive "s3://$BUCKET/$SCRIPT_DIR/" "$WORK/job/$SCRIPT_DIR/" ||
      fail_run "could not copy s3://$BUCKET/$SCRIPT_DIR/ to the instance"
  fi
  [ -f "$WORK/job/$SCRIPT" ] || fail_run "s3://$BUCKET/$SCRIPT was not found in the bucket"
  JOB="$WORK/job/$SCRIPT"
fi
chmod -R u+rwX "$WORK/job"

# Staging: $SSP_INPUT_DIR holds the input prefixes; what the job leaves in $SSP_OUTPUT_DIR goes to the bucket.
export SSP_INPUT_DIR="$WORK/input" SSP_OUTPUT_DIR="$WORK/output"
mkdir -p "$SSP_INPUT_DIR" "$SSP_OUTPUT_DIR"
${this.stageInSteps.join('\n')}
${this.jobCommand}
export LOG BUCKET RUN_PREFIX NODE WORK${this.hookVariables.map((v) => ` ${v}`).join('')}
cat > "$WORK/before-report.sh" <<'HOOK'
#!/bin/bash
aws s3 cp --only-show-errors "$LOG" "s3://$BUCKET/$RUN_PREFIX/output.log"${[...this.publishSteps, ...this.beforeResultSteps].map((b) => `\n${b}`).join('')}
HOOK
# The job's first process, started after the runtime's first heartbeat: stops the loop, marks the start, becomes the
# job (without PATH: the task's env may change it).
{ declare -f stop_heartbeater; cat <<'JOBSTART'; } > "$WORK/job-start.sh"
stop_heartbeater
echo "${BOOT_PHASE_MARK} job-start $(command -p date +%s%3N)" >> '${WORK_DIR}/output.log'
exec "$@"
JOBSTART
cd "$WORK/job/$SCRIPT_DIR" || fail_run "cannot enter $SCRIPT_DIR"
"$NODE" "$WORK/heartbeat.js" run --task-file "$TASK" --log-file "$LOG" --spill-to "s3://$BUCKET/$RUN_PREFIX/" --before-report "bash $WORK/before-report.sh" -- /bin/bash "$WORK/job-start.sh" "\${JOB_CMD[@]}"
status=$?
stop_heartbeater
echo "[bootstrap] runtime exited with status $status"
# ${CLI_EXIT.USAGE}: the runtime refused its arguments or the task document, so nothing was reported yet.
if [ "$status" -eq ${CLI_EXIT.USAGE} ]; then fail_run "the heartbeat runtime could not start the job (exit $status)"; fi
`;
  }
}

/** Node.js 20+ for the runtime: the image's own, else the distribution's package. Nothing from outside AWS. */
function installNode(): string {
  return `node_ok() { [ -n "$1" ] && "$1" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null; }
find_node() {
  for candidate in node-22 node-20 node; do
    if node_ok "$(command -v "$candidate")"; then NODE=$(command -v "$candidate"); return 0; fi
  done
  return 1
}
if ! find_node; then
  (dnf install -y -q nodejs22 || dnf install -y -q nodejs20 || dnf install -y -q nodejs || apt-get install -y -q nodejs) >/dev/null 2>&1
  find_node || fail_run 'Node.js 20 or later is not on the image and could not be installed from its package repository'
fi
phase node-ready`;
}

/**
 * Downloads the heartbeat runtime from this account's asset bucket and runs nothing unless its sha256 is the one
 * synthesized: whoever can write the asset bucket must not get root on every instance.
 */
function fetchRuntime(): string {
  return `RUNTIME_OBJECT=\${RUNTIME_URL#s3://}
aws s3api get-object --bucket "\${RUNTIME_OBJECT%%/*}" --key "\${RUNTIME_OBJECT#*/}" --expected-bucket-owner "$ACCOUNT" "$WORK/heartbeat.js" >/dev/null ||
  fail_run "could not fetch the heartbeat runtime $RUNTIME_URL"
if ! echo "$RUNTIME_SHA256  $WORK/heartbeat.js" | sha256sum -c --status; then
  actual=$(sha256sum < "$WORK/heartbeat.js")
  fail_run "the heartbeat runtime $RUNTIME_URL has sha256 \${actual%% *}, not $RUNTIME_SHA256 as synthesized: it was not run" '${JOB_ERRORS.RUNTIME_TAMPERED}'
fi
RUNTIME_READY=1
phase runtime-fetched`;
}
