import { CLI_EXIT, INPUT_ERRORS, JOB_ERRORS, MAX_USER_INPUT_BYTES, OUTPUT_STAGING_FAILED_EXIT, RESERVED_PREFIX, RUNS_PREFIX, TASKS_PREFIX } from '../protocol';

/** What the bootstrap needs to know; values may be CDK tokens (resolved at deploy time). */
export interface BootstrapOptions {
  /** Name of the job bucket. */
  readonly bucketName: string;
  /** The instance role's RoleId: with the instance ID it forms the role session's `aws:userid`. */
  readonly roleId: string;
  /** `s3://` URL of the bundled heartbeat runtime. */
  readonly runtimeUrl: string;
  /** Activity mode: the activity to claim the task from; undefined for the default task document. */
  readonly activityArn?: string;
  /** Prefixes of the job bucket copied to $SSP_INPUT_DIR/<prefix> before the job (no leading or trailing '/'). */
  readonly stagingInputs?: string[];
  /** Prefix of the job bucket that receives $SSP_OUTPUT_DIR, under <prefix>/<execution>/, after the job succeeds. */
  readonly stagingOutput?: string;
  /** CloudWatch Logs group that also receives the job's output. */
  readonly jobLogGroup?: string;
  /**
   * The job timeout in seconds, as text (may be a token). The instance powers itself off this long plus
   * HARD_CAP_GRACE_MINUTES after boot, whatever happens (self-destruct).
   */
  readonly jobSeconds: string;
  /** The heartbeat timeout in seconds, as text (may be a token): how long to wait for the task document. */
  readonly heartbeatSeconds: string;
}

/** Minutes past the job timeout at which the instance powers itself off. */
export const HARD_CAP_GRACE_MINUTES = 15;

/** Where the bootstrap keeps its files on the instance. */
export const WORK_DIR = '/opt/shell-script-pipeline';

/**
 * Renders the instance user data: a bash script that
 * 1. arms a self-destruct at the hard cap and a trap that uploads the log and powers off on any exit
 *    (the instance is launched with shutdown behaviour "terminate", so power-off ends it);
 * 2. finds its instance ID and region from IMDSv2;
 * 3. makes sure Node.js is there (from the distribution's own repository, nothing from the internet);
 * 4. fetches the heartbeat runtime and waits for its task document (written by the state machine);
 * 5. copies the job's folder from the bucket and runs the script under the heartbeat runtime.
 *
 * It carries no secret: the task token only ever travels through the bucket object
 * that only this instance's role session may read.
 */
export function renderBootstrap(o: BootstrapOptions): string {
  const taskStep = o.activityArn === undefined ? taskFromDocument() : taskFromActivity(o.activityArn);
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
  # Activity mode: a poll still in flight may be handed a task; let the claimer pass it on first.
  if [ -n "\${CLAIMER:-}" ]; then wait "$CLAIMER" 2>/dev/null || true; fi
  sync
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

${stagingIn(o.stagingInputs ?? [])}
${jobCommand(o.stagingOutput)}
${beforeReport(o.jobLogGroup)}
cd "$WORK/job/$SCRIPT_DIR" || fail_run "cannot enter $SCRIPT_DIR"
"$NODE" "$WORK/heartbeat.js" run --task-file "$TASK" --log-file "$LOG" --before-report "bash $WORK/before-report.sh" -- "\${JOB_CMD[@]}"
status=$?
echo "[bootstrap] runtime exited with status $status"
# 64: the runtime refused its arguments or the task document, so nothing was reported yet.
[ "$status" -eq ${CLI_EXIT.USAGE} ] && fail_run "the heartbeat runtime could not start the job (exit $status)"
`;
}

/** Default mode: the task document the state machine writes for this instance. */
function taskFromDocument(): string {
  return `# The task document: written by the state machine right after launch, readable by this instance only.
TASK="$WORK/task.json"
deadline=$((SECONDS + TASK_WAIT_SECONDS))
until aws s3 cp --only-show-errors "s3://$BUCKET/${TASKS_PREFIX}$IID.json" "$TASK" 2>/dev/null; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo '[bootstrap] no task document; the workflow will time this run out'
    exit 1
  fi
  sleep 3
done

${fetchRuntime()}`;
}

/**
 * Activity mode: the runtime polls the activity in the background and writes this instance's task
 * (drawn by itself, or handed over by another instance) to the task file; it hands over tasks it draws
 * for other instances, and keeps going until its in-flight poll is answered.
 */
function taskFromActivity(activityArn: string): string {
  return `${fetchRuntime()}

TASK="$WORK/task.json"
"$NODE" "$WORK/heartbeat.js" claim-activity --activity-arn '${activityArn}' --instance-id "$IID" --bucket "$BUCKET" \\
  --owner-tag-value "$ROLE_ID:$IID" --out "$TASK" --wait-seconds "$JOB_SECONDS" &
CLAIMER=$!
until [ -s "$TASK" ]; do
  if [ ! -d "/proc/$CLAIMER" ] && [ ! -s "$TASK" ]; then
    echo '[bootstrap] no activity task for this instance; the execution timeout and the cleanup end this run'
    exit 1
  fi
  sleep 1
done
`;
}

function fetchRuntime(): string {
  return `[ -n "$NODE" ] || { echo '[bootstrap] Node.js 20 or later is not available; the workflow will time this run out'; exit 1; }
if ! aws s3 cp --only-show-errors "$RUNTIME_URL" "$WORK/heartbeat.js"; then
  echo '[bootstrap] could not fetch the heartbeat runtime; the workflow will time this run out'
  exit 1
fi`;
}

/** Staging in: each prefix to $SSP_INPUT_DIR/<prefix>; both staging directories always exist. */
function stagingIn(prefixes: string[]): string {
  const copies = prefixes
    .map(
      (p) => `aws s3 cp --only-show-errors --recursive "s3://$BUCKET/${p}/" "$SSP_INPUT_DIR/${p}/" --exclude '${RESERVED_PREFIX}*' ||
  fail_run "could not stage s3://$BUCKET/${p}/ in"`,
    )
    .join('\n');
  return `# Staging: $SSP_INPUT_DIR holds the input prefixes; what the job leaves in $SSP_OUTPUT_DIR goes to the bucket.
export SSP_INPUT_DIR="$WORK/input" SSP_OUTPUT_DIR="$WORK/output"
mkdir -p "$SSP_INPUT_DIR" "$SSP_OUTPUT_DIR"
${copies}`;
}

/**
 * The command the runtime runs. With an output prefix, a wrapper copies $SSP_OUTPUT_DIR out after the job
 * succeeds, inside the job's own exit status, so a failed copy fails the attempt.
 */
function jobCommand(outputPrefix: string | undefined): string {
  if (outputPrefix === undefined) return 'JOB_CMD=(/bin/bash "$JOB")';
  return `export SSP_OUTPUT_URL="s3://$BUCKET/${outputPrefix}/$EXECUTION/"
cat > "$WORK/run-job.sh" <<'WRAPPER'
#!/bin/bash
job="$1"; shift
/bin/bash "$job" "$@" || exit $?
aws s3 cp --only-show-errors --recursive "$SSP_OUTPUT_DIR" "$SSP_OUTPUT_URL" ||
  { echo "[bootstrap] could not copy $SSP_OUTPUT_DIR to $SSP_OUTPUT_URL" >&2; exit ${OUTPUT_STAGING_FAILED_EXIT}; }
WRAPPER
JOB_CMD=(/bin/bash "$WORK/run-job.sh" "$JOB")`;
}

/**
 * What runs after the job and before its result is sent (the workflow terminates the instance as soon as it
 * has the result): upload the log, send it to CloudWatch Logs if asked, and in activity mode let the claimer's
 * last poll be answered and handed over.
 */
function beforeReport(logGroup: string | undefined): string {
  const cloudWatch =
    logGroup === undefined
      ? ''
      : `
aws logs create-log-stream --log-group-name "$SSP_JOB_LOG_GROUP" --log-stream-name "$SSP_JOB_LOG_STREAM" 2>/dev/null || true
"$NODE" -e '${LOG_EVENTS_SCRIPT}' "$LOG" "$WORK/log-events" &&
  for batch in "$WORK"/log-events-*.json; do
    [ -f "$batch" ] || continue
    aws logs put-log-events --log-group-name "$SSP_JOB_LOG_GROUP" --log-stream-name "$SSP_JOB_LOG_STREAM" --log-events "file://$batch" >/dev/null
  done`;
  return `export LOG BUCKET RUN_PREFIX NODE WORK CLAIMER="\${CLAIMER:-}"${
    logGroup === undefined ? '' : ` SSP_JOB_LOG_GROUP='${logGroup}' SSP_JOB_LOG_STREAM="$EXECUTION/$IID"`
  }
cat > "$WORK/before-report.sh" <<'HOOK'
#!/bin/bash
aws s3 cp --only-show-errors "$LOG" "s3://$BUCKET/$RUN_PREFIX/output.log"${cloudWatch}
if [ -n "$CLAIMER" ]; then while [ -d "/proc/$CLAIMER" ]; do sleep 1; done; fi
HOOK`;
}

/**
 * Splits a log file into PutLogEvents batches (at most 5000 events and 900 KB each, one timestamp per line, empty
 * lines kept as a space): node -e SCRIPT <log file> <output prefix>. No single quotes: it is embedded in '...'.
 */
const LOG_EVENTS_SCRIPT = [
  'const fs = require("fs");',
  'const [file, out] = process.argv.slice(1);',
  'const lines = fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\\n") : [];',
  'if (lines.length && lines[lines.length - 1] === "") lines.pop();',
  'let batch = [], size = 0, n = 0; const now = Date.now();',
  'const flush = () => { if (batch.length) fs.writeFileSync(out + "-" + (n++) + ".json", JSON.stringify(batch)); batch = []; size = 0; };',
  'for (const line of lines) { const message = (line || " ").slice(0, 200000); const bytes = Buffer.byteLength(message) + 26;',
  '  if (batch.length >= 5000 || size + bytes > 900000) flush(); batch.push({ timestamp: now, message }); size += bytes; }',
  'flush();',
].join(' ');
