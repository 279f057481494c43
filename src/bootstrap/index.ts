import { CLI_EXIT, INPUT_ERRORS, JOB_ERRORS, MAX_USER_INPUT_BYTES, RESERVED_PREFIX, RUNS_PREFIX, WORK_DIR } from '../protocol';

/** Minutes past the job timeout at which the instance powers itself off. */
export const HARD_CAP_GRACE_MINUTES = 15;

/** Where the bootstrap keeps its files on the instance (in the protocol: the local runner moves it). */
export { WORK_DIR };

/** What every bootstrap needs to know; values may be CDK tokens (resolved at deploy time). */
export interface BootstrapSettings {
  /** Name of the job bucket. */
  readonly bucketName: string;
  /** The instance role's RoleId: with the instance ID it forms the role session's `aws:userid`. */
  readonly roleId: string;
  /** `s3://` URL of the bundled heartbeat runtime. */
  readonly runtimeUrl: string;
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
  /** Bash that leaves the task in the file `$TASK` (and sets TASK), or exits 1. */
  readonly script: string;
  /** Whether it needs the heartbeat runtime, so runs after the runtime is downloaded (else before). */
  readonly afterRuntime: boolean;
}

/**
 * The instance user data: a bash script that
 * 1. arms a self-destruct at the hard cap and a trap that uploads the log and powers off on any exit
 *    (the instance is launched with shutdown behaviour "terminate", so power-off ends it);
 * 2. finds its instance ID and region from IMDSv2;
 * 3. makes sure Node.js is there (from the distribution's own repository, nothing from the internet);
 * 4. fetches the heartbeat runtime and gets its task (the `task` section, from the task hand-off);
 * 5. copies the job's folder from the bucket, fills `$SSP_INPUT_DIR` (`stageIn`) and runs the job command
 *    (`jobCommand`) under the heartbeat runtime, whose before-report hook uploads the log, publishes it further
 *    (`publishOutput`) and waits for what must end before the result is sent (`beforeResult`).
 *
 * Parts add to these named sections; the skeleton is the same for every pipeline. It carries no secret: the task
 * token only ever travels through the bucket object that only this instance's role session may read, or the activity.
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

  public render(): string {
    const o = this.settings;
    if (!this.task) throw new Error('the bootstrap has no task step: a task hand-off must set one');
    const taskStep = this.task.afterRuntime ? `${fetchRuntime()}\n\n${this.task.script}` : `${this.task.script}\n\n${fetchRuntime()}`;
    return `#!/bin/bash
# shell-script-pipeline bootstrap: run one job under the heartbeat runtime, then power off (= terminate).
set -uo pipefail
BUCKET='${o.bucketName}'
ROLE_ID='${o.roleId}'
RUNTIME_URL='${o.runtimeUrl}'
JOB_SECONDS=${o.jobSeconds}
HARD_CAP_MINUTES=$(( (JOB_SECONDS + 59) / 60 + ${HARD_CAP_GRACE_MINUTES} ))
TASK_WAIT_SECONDS=${o.heartbeatSeconds}
WORK='${WORK_DIR}'
LOG="$WORK/output.log"
RUN_PREFIX=''

mkdir -p "$WORK/job"
exec > >(tee -a "$WORK/bootstrap.log") 2>&1

# Backstop 1: whatever happens below, the instance is gone after the hard cap.
shutdown -P "+$HARD_CAP_MINUTES" 'shell-script-pipeline: hard cap reached' || true

# Backstop 2: on any exit of this script, upload what we have and power off.
finish() {
  local rc=$?
  echo "[bootstrap] exiting with status $rc"
  if [ -n "$RUN_PREFIX" ]; then
    [ -f "$LOG" ] && aws s3 cp --only-show-errors "$LOG" "s3://$BUCKET/$RUN_PREFIX/output.log" || true
    aws s3 cp --only-show-errors "$WORK/bootstrap.log" "s3://$BUCKET/$RUN_PREFIX/bootstrap.log" || true
  fi
${this.exitSteps.map((l) => `  ${l}\n`).join('')}  sync
  poweroff || shutdown -P now
}
trap finish EXIT

imds() {
  local token
  token=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token) &&
    curl -sf -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"
}
IID=$(imds instance-id) || { echo '[bootstrap] no instance ID from IMDS'; exit 1; }
AWS_REGION=$(imds placement/region) || { echo '[bootstrap] no region from IMDS'; exit 1; }
export AWS_REGION AWS_DEFAULT_REGION="$AWS_REGION"

# Node.js 20+ for the runtime: the image's own, else the distribution's package. Nothing from outside AWS.
node_ok() { [ -n "$1" ] && "$1" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null; }
NODE=''
for candidate in node-22 node-20 node; do
  if node_ok "$(command -v "$candidate")"; then NODE=$(command -v "$candidate"); break; fi
done
if [ -z "$NODE" ]; then
  (dnf install -y -q nodejs22 || dnf install -y -q nodejs20 || dnf install -y -q nodejs || apt-get install -y -q nodejs) >/dev/null 2>&1 || true
  for candidate in node-22 node-20 node; do
    if node_ok "$(command -v "$candidate")"; then NODE=$(command -v "$candidate"); break; fi
  done
fi

${taskStep}
field() { "$NODE" -e 'const v = require(process.argv[1])[process.argv[2]]; process.stdout.write(String(v))' "$TASK" "$1"; }
fail_run() {
  echo "[bootstrap] $1"
  "$NODE" "$WORK/heartbeat.js" fail --task-file "$TASK" --error "\${2:-${JOB_ERRORS.BOOTSTRAP_FAILED}}" --cause "$1"
  exit 1
}

EXECUTION=$(field executionName) || fail_run 'the task document is unreadable'
RUN_PREFIX="${RUNS_PREFIX}$EXECUTION/$ROLE_ID:$IID"
SCRIPT=$(field script) || fail_run 'the task document has no script'

if [ -z "$SCRIPT" ]; then
  # Seed compatibility: {"userInput": "<bash>"} runs as the job, like the sample's user data did.
  JOB="$WORK/job/user-input.sh"
  "$NODE" -e 'process.stdout.write(require(process.argv[1]).userInput)' "$TASK" > "$JOB" || fail_run 'the task document has no userInput'
  size=$(wc -c < "$JOB")
  [ "$size" -le ${MAX_USER_INPUT_BYTES} ] ||
    fail_run "userInput is $size bytes; the limit is ${MAX_USER_INPUT_BYTES} (EC2 user data). Upload it as a script instead." '${INPUT_ERRORS.USER_INPUT_TOO_LARGE}'
  SCRIPT_DIR='.'
else
  SCRIPT_DIR=$(dirname "$SCRIPT")

  # The job's files: the script's folder (the whole bucket when the script is at its root), never the pipeline's own.
  if [ "$SCRIPT_DIR" = '.' ]; then
    SRC="s3://$BUCKET/"
    DEST="$WORK/job/"
  else
    SRC="s3://$BUCKET/$SCRIPT_DIR/"
    DEST="$WORK/job/$SCRIPT_DIR/"
  fi
  aws s3 cp --only-show-errors --recursive "$SRC" "$DEST" --exclude '${RESERVED_PREFIX}*' ||
    fail_run "could not copy $SRC to the instance"
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
cd "$WORK/job/$SCRIPT_DIR" || fail_run "cannot enter $SCRIPT_DIR"
"$NODE" "$WORK/heartbeat.js" run --task-file "$TASK" --log-file "$LOG" --spill-to "s3://$BUCKET/$RUN_PREFIX/" --before-report "bash $WORK/before-report.sh" -- "\${JOB_CMD[@]}"
status=$?
echo "[bootstrap] runtime exited with status $status"
# ${CLI_EXIT.USAGE}: the runtime refused its arguments or the task document, so nothing was reported yet.
[ "$status" -eq ${CLI_EXIT.USAGE} ] && fail_run "the heartbeat runtime could not start the job (exit $status)"
`;
  }
}

/** Downloads the heartbeat runtime, or exits (the workflow times the run out). */
function fetchRuntime(): string {
  return `[ -n "$NODE" ] || { echo '[bootstrap] Node.js 20 or later is not available; the workflow will time this run out'; exit 1; }
if ! aws s3 cp --only-show-errors "$RUNTIME_URL" "$WORK/heartbeat.js"; then
  echo '[bootstrap] could not fetch the heartbeat runtime; the workflow will time this run out'
  exit 1
fi`;
}
