/**
 * The contract between the construct (state machine + bootstrap) and the job-side runtime (src/runtime).
 *
 * Both sides import this module and nothing else from each other. It must stay free of imports so the
 * runtime bundle does not pull in aws-cdk-lib, and it is not exported from the package's public API.
 */

/** Prefix in the job bucket that the pipeline owns. User scripts must not live under it. */
export const RESERVED_PREFIX = 'pipeline/';

/** Where the state machine hands each instance its task document (one object per instance). */
export const TASKS_PREFIX = `${RESERVED_PREFIX}tasks/`;

/**
 * Where instances upload their run artifacts (output log, result): `pipeline/runs/<RoleId>:<InstanceId>/<execution>/`.
 * The folder of each instance is named after its role session's `aws:userid`, right after this fixed prefix, so the
 * instance role's write grant `pipeline/runs/${aws:userid}/*` reaches that one folder and nothing nested elsewhere.
 */
export const RUNS_PREFIX = `${RESERVED_PREFIX}runs/`;

/**
 * The S3 object tag that names the only principal allowed to read a task document.
 * Its value is the instance role's `aws:userid`, i.e. `<RoleId>:<InstanceId>`.
 */
export const OWNER_TAG = 'ssp-owner';

/** Tag keys the state machine puts on every instance it launches. */
export const INSTANCE_TAGS = {
  /** Identifies the pipeline; `ec2:TerminateInstances` is only allowed on instances with this tag. */
  PIPELINE: 'shell-script-pipeline:pipeline',
  /** The execution name, so a cleanup can find an execution's instances. */
  EXECUTION: 'shell-script-pipeline:execution',
} as const;

/** What a job's run needs to know, in both hand-off modes. */
export interface TaskFields {
  /** ARN of the execution this task belongs to. */
  readonly executionArn: string;
  /** Name of the execution this task belongs to. */
  readonly executionName: string;
  /** Key of the script in the job bucket; empty when the run is a seed-style `userInput` script. */
  readonly script: string;
  /** Arguments passed to the script. */
  readonly args: string[];
  /** The step's HeartbeatSeconds: the runtime heartbeats at a third of it. */
  readonly heartbeatSeconds: number;
  /** Environment variables for the job (names like `^[A-Za-z_][A-Za-z0-9_]*$`, string values). */
  readonly env?: Record<string, string>;
  /** Seed compatibility: the bash text of `{"userInput": "..."}`, run as the job instead of a script. */
  readonly userInput?: string;
  /** Which attempt of the execution this is (1-based). */
  readonly attempt?: number;
  /**
   * Fan-out: which shard of a list this run is. `{}` (or absent) for a run that is not part of a fan-out. The runtime
   * exports it to the job as SHARD_ENV (the execution input's `env` may not set `SSP_*` names itself).
   */
  readonly shard?: Partial<ShardFields>;
}

/** Fan-out: the shard one run of a fan-out works on (the execution input's `shard` field). */
export interface ShardFields {
  /** 0-based position of this shard in the list. */
  readonly index: number;
  /** How many shards the list has. */
  readonly count: number;
  /** The list item: exported as is when a string, as its JSON text otherwise. */
  readonly value: unknown;
}

/**
 * Fan-out: the environment variables the runtime sets for a run whose input has a `shard` (and only then). They are
 * `SSP_*` names, so an execution's `env` can never set or fake them; the pipeline sets them from the input's `shard`.
 */
export const SHARD_ENV = {
  /** 0-based index of this shard, as decimal text. */
  INDEX: 'SSP_SHARD_INDEX',
  /** Number of shards, as decimal text. */
  COUNT: 'SSP_SHARD_COUNT',
  /** The shard's value: the list item, as is when a string, as JSON text otherwise. */
  VALUE: 'SSP_SHARD',
} as const;

/**
 * The field of an execution's input that links it to the execution that started it. Step Functions' console shows a
 * nested execution's parent when its input has this field (set to the parent's `$$.Execution.Id`): "use a parameter
 * named AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID" (https://docs.aws.amazon.com/step-functions/latest/dg/connect-stepfunctions.html).
 * The pipeline's input validation accepts it (a string) and drops it.
 */
export const STARTED_BY_FIELD = 'AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID';

/**
 * The task document the state machine writes to `pipeline/tasks/<instance-id>.json` when the
 * "Pause for Job Completion" step starts. The instance reads it to learn its own task token.
 */
export interface TaskDocument extends TaskFields {
  /** The per-execution task token to answer with SendTaskHeartbeat/Success/Failure. */
  readonly taskToken: string;
}

/**
 * Activity mode: the input of the activity task the "Pause for Job Completion" step schedules.
 * It names the instance the task belongs to; a worker that draws another instance's task hands it over.
 */
export interface ActivityTaskInput extends TaskFields {
  /** The instance that must run this task. */
  readonly instanceId: string;
}

/** Activity mode: where a worker that drew another instance's task leaves it for its owner. */
export const HANDOFF_PREFIX = `${RESERVED_PREFIX}handoff/`;

/** Environment variables the runtime reads, and the ones it sets for the job. */
export const ENV = {
  /** Path of the task document (JSON) the runtime answers. */
  TASK_FILE: 'SSP_TASK_FILE',
  /** A task token given directly instead of a task file. */
  TASK_TOKEN: 'SSP_TASK_TOKEN',
  /** HeartbeatSeconds of the waiting step, when no task file gives it. */
  HEARTBEAT_SECONDS: 'SSP_HEARTBEAT_SECONDS',
  /** Overrides the heartbeat interval in milliseconds (tests; normally a third of the heartbeat timeout). */
  HEARTBEAT_INTERVAL_MS: 'SSP_HEARTBEAT_INTERVAL_MS',
  /** Base URL of the instance metadata service (tests point it at a local server). */
  IMDS_ENDPOINT: 'SSP_IMDS_ENDPOINT',
  /** Set to `0` to stop the runtime polling instance metadata for a Spot interruption notice. */
  SPOT_CHECK: 'SSP_SPOT_CHECK',
  /** Set for the job: a file it may write JSON to; the JSON is returned as `result` in the task output. */
  RESULT_FILE: 'SSP_RESULT_FILE',
  /** Set for the job: the execution name. */
  EXECUTION_NAME: 'SSP_EXECUTION_NAME',
  /** Set for the job: the execution ARN. */
  EXECUTION_ARN: 'SSP_EXECUTION_ARN',
  /** Set for the job: which attempt of the execution this is (1-based). */
  ATTEMPT: 'SSP_ATTEMPT',
  /** Set for the --before-report command: `succeeded` or `failed`. */
  OUTCOME: 'SSP_OUTCOME',
  /**
   * Set to `1` (in the runtime's environment, or in the task document's `env`) to log the job's arguments. By default
   * the runtime logs only how many the task gave: they are the execution input's and may hold secrets.
   */
  LOG_ARGS: 'SSP_LOG_ARGS',
} as const;

/** Error names the runtime and the bootstrap report with SendTaskFailure. The workflow matches on them. */
export const JOB_ERRORS = {
  /** The job exited with a non-zero code. */
  NON_ZERO_EXIT: 'Job.NonZeroExit',
  /** The job was killed by a signal. */
  KILLED: 'Job.Killed',
  /** The job's command could not be started (not found, not executable). */
  START_FAILED: 'Job.StartFailed',
  /** The instance was marked for Spot interruption while the job ran. */
  SPOT_INTERRUPTED: 'Job.SpotInterrupted',
  /** The runtime itself was stopped (SIGTERM/SIGINT), e.g. by an instance shutdown. */
  INTERRUPTED: 'Job.Interrupted',
  /** The task document's `env` has a name that is not a valid environment variable name. */
  INVALID_ENV: 'Job.InvalidEnv',
  /**
   * The job exited 0 but its result is unusable: the result file is not JSON, or it is over MAX_INLINE_RESULT_BYTES
   * and the runtime has no S3 location to store it in (or it is too large to store at all).
   */
  INVALID_RESULT: 'Job.InvalidResult',
  /**
   * The job exited 0 with a valid result over MAX_INLINE_RESULT_BYTES, but storing it in S3 failed (refused, or kept
   * failing after retries). Unlike `Job.InvalidResult` the job did nothing wrong: another attempt may succeed.
   */
  RESULT_NOT_STORED: 'Job.ResultNotStored',
  /** The bootstrap failed before the job started (fetching the runtime or the job's files). */
  BOOTSTRAP_FAILED: 'Bootstrap.Failed',
  /**
   * The heartbeat runtime the bootstrap downloaded is not the file the pipeline was synthesized with (its sha256
   * differs): it was not run, and neither was the job.
   */
  RUNTIME_TAMPERED: 'Bootstrap.RuntimeTampered',
} as const;

/** Error names the workflow raises for bad execution input, before any instance is launched. */
export const INPUT_ERRORS = {
  MISSING_SCRIPT: 'Input.MissingScript',
  INVALID_ARGS: 'Input.InvalidArgs',
  SCRIPT_NOT_FOUND: 'Input.ScriptNotFound',
  RESERVED_KEY: 'Input.ReservedKey',
  UNKNOWN_FIELDS: 'Input.UnknownFields',
  CONFLICT: 'Input.ScriptAndUserInput',
  INVALID_USER_INPUT: 'Input.InvalidUserInput',
  USER_INPUT_TOO_LARGE: 'Input.UserInputTooLarge',
  INVALID_ENV: 'Input.InvalidEnv',
  TOO_MANY_ARGS: 'Input.TooManyArgs',
  /** `env` has more than MAX_ENV entries. */
  TOO_MANY_ENV: 'Input.TooManyEnv',
  /** `env` sets a name that changes how the shell, the loader or the runtime works (see isReservedEnvName). */
  RESERVED_ENV_NAME: 'Input.ReservedEnvName',
  /** The input validation gave no answer (it timed out or was stopped without an error), so nothing was launched. */
  NOT_VALIDATED: 'Input.NotValidated',
  /** `shard` is not an object with a numeric `index` and `count` and a `value` (fan-out runs only). */
  INVALID_SHARD: 'Input.InvalidShard',
} as const;

/** Error names a fan-out (workflow/fan-out.ts) raises itself; a failed shard's own error passes through unchanged. */
export const FAN_OUT_ERRORS = {
  /** More shards failed than `toleratedFailureCount` allows. */
  TOO_MANY_SHARDS_FAILED: 'FanOut.TooManyShardsFailed',
} as const;

/** Error names the workflow raises when it cannot launch an attempt's instance. */
export const LAUNCH_ERRORS = {
  /**
   * EC2 refused the RunInstances request for a reason another try cannot fix (not authorized, an invalid parameter, an
   * image that does not exist): the run fails at once, without a retry or another attempt. The cause is EC2's message.
   */
  REFUSED: 'Launch.Refused',
} as const;

/** Error names the workflow raises when a run cannot get one of `maxConcurrentJobs` job slots. */
export const CONCURRENCY_ERRORS = {
  /**
   * Every job slot stayed taken for longer than the job's own timeout while the run waited for one: the run fails
   * without launching anything (it never held a slot).
   */
  NO_SLOT: 'Concurrency.NoSlot',
} as const;

/** Exit codes of the `heartbeat` CLI. */
export const CLI_EXIT = {
  /** The job succeeded and success was reported. */
  OK: 0,
  /** The job failed and failure was reported. */
  JOB_FAILED: 1,
  /** Usage error: bad arguments or unreadable task document. */
  USAGE: 64,
  /** The result could not be reported (endpoint unreachable after retries). */
  REPORT_FAILED: 70,
  /** The run is over on the Step Functions side (TaskTimedOut / invalid token): the job was stopped. */
  LOST: 75,
} as const;

/** Largest `cause` SendTaskFailure accepts, in characters. */
export const MAX_CAUSE_CHARS = 32_768;
/** Largest `error` SendTaskFailure accepts, in characters. */
export const MAX_ERROR_CHARS = 256;
/** Largest seed-style `userInput` script, in bytes: the EC2 user-data limit the AWS sample ran it under. */
export const MAX_USER_INPUT_BYTES = 16_384;
/** How much of the job's combined output the runtime keeps for the result (bytes). */
export const OUTPUT_TAIL_BYTES = 4_096;

/**
 * Largest job result returned inline in the task output, in bytes: the UTF-8 length of the result's compact JSON. A
 * larger result is stored in the job bucket as {@link RESULT_OBJECT_NAME} beside the run's log, and the task output
 * names it (`resultLocation`, `resultBytes`) instead. This keeps the task output (which the workflow merges into the
 * execution's state) and the SNS notification that carries it far below their 262,144-byte limits whatever the job
 * writes: the runtime's README works out the worst case.
 */
export const MAX_INLINE_RESULT_BYTES = 32_768;

/** Name of the object a result over MAX_INLINE_RESULT_BYTES is stored as, under the run's prefix (beside output.log). */
export const RESULT_OBJECT_NAME = 'result.json';

/** Most arguments one execution may pass to its script (the workflow rejects more with `Input.TooManyArgs`). */
export const MAX_ARGS = 1000;

/**
 * What an environment variable name in an execution's `env` must look like (POSIX shell names: letters, digits and
 * `_`, not starting with a digit). The workflow checks a schedule's fixed input with it; the runtime refuses a task
 * whose `env` breaks it (`Job.InvalidEnv`).
 */
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Most entries one execution's `env` may hold (the workflow rejects more with `Input.TooManyEnv`). */
export const MAX_ENV = 100;

/**
 * Environment variable names an execution's `env` must not set, because they change how the job's shell or the
 * dynamic loader behave rather than pass a value to the script (bash(1): BASH_ENV and ENV name a file every
 * non-interactive or POSIX-mode shell sources first; SHELLOPTS and BASHOPTS turn shell options on at start-up; IFS
 * changes word splitting; PATH changes which program every command runs).
 */
export const RESERVED_ENV_NAMES = ['BASH_ENV', 'ENV', 'PATH', 'IFS', 'SHELLOPTS', 'BASHOPTS'] as const;

/**
 * Prefixes of environment variable names an execution's `env` must not use: `LD_` (ld.so(8) reads LD_PRELOAD,
 * LD_LIBRARY_PATH, LD_AUDIT and more from the environment of every dynamically linked program) and `SSP_`, the
 * runtime's own names (the values of ENV and any it adds later).
 */
export const RESERVED_ENV_PREFIXES = ['LD_', 'SSP_'] as const;

/**
 * Whether `name` is one an execution's `env` must not set (RESERVED_ENV_NAMES, or a RESERVED_ENV_PREFIXES prefix).
 * The workflow rejects such input with `Input.ReservedEnvName`; call this to check a fixed input at synth.
 */
export function isReservedEnvName(name: string): boolean {
  return (RESERVED_ENV_NAMES as readonly string[]).includes(name) || RESERVED_ENV_PREFIXES.some((p) => name.startsWith(p));
}

/**
 * Exit status of the job when the script succeeded but its `$SSP_OUTPUT_DIR` could not be copied to the staging
 * output prefix: the runtime reports it as `Job.NonZeroExit` like any other, so the attempt fails.
 */
export const OUTPUT_STAGING_FAILED_EXIT = 97;

/** The file name of the run log each instance uploads to its run folder, `RUNS_PREFIX<aws:userid>/<execution name>/`. */
export const RUN_LOG_FILE = 'output.log';

/**
 * The input of the log forwarder (src/log-forwarder), the Lambda function the run state machine invokes after a job
 * when `jobLogRetention` is set. It copies one run's log from the job bucket into one stream of the job log group, so
 * instances need no CloudWatch Logs grant. The function refuses any other shape.
 */
export interface LogForwarderInput {
  /** The job bucket; must be the bucket the function was deployed for. */
  readonly bucket: string;
  /** The run log: `RUNS_PREFIX<role ID>:<instance ID>/<execution name>/RUN_LOG_FILE`. */
  readonly key: string;
  /** The job log group; must be the log group the function was deployed for. */
  readonly logGroupName: string;
  /**
   * The stream to write (created if missing): 1 to 512 characters, no ':' or '*' (CreateLogStream pattern `[^:*]*`).
   * The state machine names it `<execution name>/<instance ID>`; execution names never contain ':' or '*'.
   */
  readonly logStreamName: string;
}

/** What the log forwarder returns (the task's result in the execution history). */
export interface LogForwarderResult {
  readonly logGroupName: string;
  readonly logStreamName: string;
  /** Size of the run log in S3, in bytes. */
  readonly logBytes: number;
  /** Log events written (lines, pieces of over-long lines, and the cut marker). */
  readonly events: number;
  /** PutLogEvents calls made. */
  readonly batches: number;
  /** Bytes of the log left out between the forwarded head and tail (0 when the whole log was forwarded). */
  readonly omittedBytes: number;
}

/**
 * Error names the log forwarder fails with (the Lambda error type, which a Step Functions Catch matches on:
 * https://docs.aws.amazon.com/step-functions/latest/dg/tutorial-handling-error-conditions.html).
 */
export const LOG_FORWARDER_ERRORS = {
  /** The input is not a `LogForwarderInput` this function may act on (shape, key, names, bucket, log group). */
  INVALID_INPUT: 'LogForwarder.InvalidInput',
  /** The run log could not be read from S3 (a missing key reads as AccessDenied: the function may not list the bucket). */
  READ_FAILED: 'LogForwarder.ReadFailed',
  /** CreateLogStream or PutLogEvents failed; events before the failing batch were written. */
  WRITE_FAILED: 'LogForwarder.WriteFailed',
  /** CloudWatch Logs accepted the batches but rejected some events as too old, too new or expired. */
  EVENTS_REJECTED: 'LogForwarder.EventsRejected',
} as const;

/** Environment variables the construct sets on the log forwarder: the only bucket and log group it may use. */
export const LOG_FORWARDER_ENV = {
  BUCKET: 'SSP_LOG_FORWARDER_BUCKET',
  LOG_GROUP: 'SSP_LOG_FORWARDER_LOG_GROUP',
} as const;

/**
 * The bootstrap's boot phases. It appends one line per phase to the run log (`output.log`), before anything the job
 * prints: `ssp-phase <name> <milliseconds since the epoch>`, each once. In task-token mode they come in this order; in
 * activity mode the task is claimed by the runtime, so `node-ready` and `runtime-fetched` come before `task-read`.
 */
export const BOOT_PHASES = ['userdata-start', 'task-read', 'first-heartbeat', 'node-ready', 'runtime-fetched', 'job-start'] as const;

/** The first word of a boot phase line in the run log. */
export const BOOT_PHASE_MARK = 'ssp-phase';

/**
 * Where the bootstrap keeps its files on the instance. The local runner (src/local) moves it to a sandbox folder in a
 * copy of the user data, so it must find this exact text there.
 */
export const WORK_DIR = '/opt/shell-script-pipeline';
