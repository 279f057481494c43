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
}

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
  /** The job exited 0 but its result file is not JSON, or the output is over Step Functions' 256 KiB. */
  INVALID_RESULT: 'Job.InvalidResult',
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

/** Most arguments one execution may pass to its script (the workflow rejects more with `Input.TooManyArgs`). */
export const MAX_ARGS = 1000;

/**
 * What an environment variable name in an execution's `env` must look like (POSIX shell names: letters, digits and
 * `_`, not starting with a digit). The workflow checks a schedule's fixed input with it; the runtime refuses a task
 * whose `env` breaks it (`Job.InvalidEnv`).
 */
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Exit status of the job when the script succeeded but its `$SSP_OUTPUT_DIR` could not be copied to the staging
 * output prefix: the runtime reports it as `Job.NonZeroExit` like any other, so the attempt fails.
 */
export const OUTPUT_STAGING_FAILED_EXIT = 97;

/**
 * The bootstrap's boot phases. It appends one line per phase to the run log (`output.log`), before anything the job
 * prints: `ssp-phase <name> <milliseconds since the epoch>`, each once. In task-token mode they come in this order; in
 * activity mode the task is claimed by the runtime, so `node-ready` and `runtime-fetched` come before `task-read`.
 */
export const BOOT_PHASES = ['userdata-start', 'task-read', 'first-heartbeat', 'node-ready', 'runtime-fetched', 'job-start'] as const;

/** The first word of a boot phase line in the run log. */
export const BOOT_PHASE_MARK = 'ssp-phase';
