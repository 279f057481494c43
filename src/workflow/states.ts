/**
 * The state names of the pipeline's state machines. Users see them in the console and the execution history, and match on them
 * in metrics, alarms and their own tooling: they are part of the API (test/pinned-contract.test.ts pins them).
 * Never rename one.
 */

/**
 * The states of the input validation state machine (an Express state machine the run calls first): every check of an
 * execution's input. They run in the validation machine, not in the run, so they cost the run no state transitions.
 */
export const INPUT_STATES = {
  CHECK_INPUT: 'Check input',
  CONFLICT: 'Script and userInput',
  INVALID_USER_INPUT: 'Invalid userInput',
  MISSING_SCRIPT: 'Missing script',
  RESERVED_KEY: 'Reserved script key',
  VALID_USER_INPUT: 'Valid userInput?',
  RUN_KIND: 'Script or userInput run?',
  NO_SCRIPT_KEY: 'No script key',
  NO_USER_INPUT: 'No user input',
  HAS_ARGS: 'Has args?',
  DEFAULT_ARGS: 'Default args',
  HAS_ENV: 'Has env?',
  DEFAULT_ENV: 'Default env',
  COUNT_FIELDS: 'Collect fields',
  COUNT_FIELDS_2: 'Count fields',
  KNOWN_FIELDS_ONLY: 'Known fields only?',
  UNKNOWN_FIELDS: 'Unknown fields',
  ARGS_AS_JSON: 'Args as JSON',
  ARGS_IS_LIST: 'Args is a list?',
  COUNT_ARGS: 'Count args',
  ARGS_NOT_TOO_MANY: 'Not too many args?',
  TOO_MANY_ARGS: 'Too many args',
  CHECK_ARGS: 'Check args',
  CHECK_ARG: 'Check arg',
  ARG_OK: 'Arg is a string',
  ARG_NOT_STRING: 'Arg is not a string',
  INVALID_ARGS: 'Invalid args',
  ENV_AS_JSON: 'Env as JSON',
  ENV_IS_OBJECT: 'Env is an object?',
  ENV_VALUES: 'Env values',
  COUNT_ENV: 'Count env',
  ENV_NOT_TOO_MANY: 'Not too many env?',
  TOO_MANY_ENV: 'Too many env',
  CHECK_ENV: 'Check env',
  CHECK_ENV_VALUE: 'Check env value',
  ENV_VALUE_OK: 'Env value is a string',
  ENV_VALUE_NOT_STRING: 'Env value is not a string',
  INVALID_ENV: 'Invalid env',
  ENV_NAMES_ALLOWED: 'Env names allowed?',
  RESERVED_ENV_NAME: 'Reserved env name',
  VALID_INPUT: 'Valid input',
  // Fields a parent workflow sets (run-job.ts, fan-out.ts).
  HAS_SHARD: 'Has shard?',
  DEFAULT_SHARD: 'Default shard',
  HAS_STARTED_BY: 'Started by an execution?',
  DEFAULT_STARTED_BY: 'Not started by an execution',
  SHARD_AS_JSON: 'Shard as JSON',
  SHARD_VALID: 'Shard valid?',
  INVALID_SHARD: 'Invalid shard',
} as const;

/** The run's states that call the input validation state machine and act on its answer. */
export const VALIDATION_STATES = {
  VALIDATE_INPUT: 'Validate input',
  INPUT_VALID: 'Input valid?',
  VALIDATION_FAILED: 'Validation failed',
  NO_VALIDATION_RESULT: 'No validation result',
} as const;

/** Every state of the run state machine. */
export const STATES = {
  ...VALIDATION_STATES,
  PREPARE: 'Prepare run',
  SCRIPT_OR_USER_INPUT: 'Script or userInput?',
  CHECK_SCRIPT: 'Check script exists',
  SCRIPT_NOT_FOUND: 'Script not found',
  SPOT_OR_ON_DEMAND: 'Spot or On-Demand?',
  LAUNCH: 'Launch instance',
  LAUNCH_SPOT: 'Launch Spot instance',
  LAUNCH_FAILED: 'Launch failed',
  NEXT_SUBNET: 'Try the next subnet',
  LAUNCH_GAVE_UP: 'Launch gave up',
  RETRY_IN_SUBNET: 'Retry in the same subnet',
  WAIT_FOR_CAPACITY: 'Wait for capacity',
  WAIT_TO_LAUNCH: 'Wait before launching again',
  LAUNCH_REFUSED: 'Launch refused',
  PAUSE: 'Pause for Job Completion',
  TERMINATE: 'Terminate instance',
  TERMINATE_FAILED: 'Terminate failed',
  /** Only with `jobLogRetention`: copies the attempt's run log to the job log group (parts/job-logs.ts). */
  FORWARD_JOB_LOG: 'Forward job log',
  DID_JOB_SUCCEED: 'Did the job succeed?',
  TRY_AGAIN: 'Try again?',
  WAIT_BEFORE_RETRY: 'Wait before the next attempt',
  NEXT_ATTEMPT: 'Next attempt',
  NOTIFY_SUCCESS: 'Notify success',
  NOTIFY_FAILURE: 'Notify failure',
  SUCCEEDED: 'Succeeded',
  FAILED: 'Failed',
} as const;

/** Every state of the cleanup state machine. */
export const CLEANUP_STATES = {
  FIND: 'Find instances of the execution',
  ANY: 'Any instances left?',
  COLLECT: 'Collect instance IDs',
  NONE: 'No instances left',
  TERMINATE: 'Terminate leftover instances',
  TERMINATE_FAILED: 'Leftover terminate failed',
  NEEDS_NOTICE: 'Needs a notification?',
  NOTIFY: 'Notify',
  DONE: 'Done',
} as const;

/** The error of a run whose instance could not be terminated. Runs that end with it are not retried. */
export const TERMINATE_FAILED_ERROR = 'Terminate.Failed';
