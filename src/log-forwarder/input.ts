/**
 * Checks an invocation's input against the documented shape (`LogForwarderInput` in src/protocol) before anything is
 * read or written. Nothing else from the input is trusted: the bucket and the log group must be the ones the function
 * was deployed for (its environment), and the key must be a run log under `pipeline/runs/`.
 */
import { LOG_FORWARDER_ENV, LOG_FORWARDER_ERRORS, LogForwarderInput, RUNS_PREFIX, RUN_LOG_FILE } from '../protocol';

/** An error whose `name` is one of `LOG_FORWARDER_ERRORS`: Lambda reports it as the error type. */
export class LogForwarderError extends Error {
  constructor(name: (typeof LOG_FORWARDER_ERRORS)[keyof typeof LOG_FORWARDER_ERRORS], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = name;
  }
}

const FIELDS = ['bucket', 'key', 'logGroupName', 'logStreamName'] as const;

/**
 * Log stream names: "between 1 and 512 characters long. Don't use ':' (colon) or '*' (asterisk)", pattern `[^:*]*`
 * (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogStream.html).
 */
const MAX_STREAM_NAME_CHARS = 512;

/** Log group names: 1 to 512 characters of `[\.\-_/#A-Za-z0-9]` (API_CreateLogGroup.html, same reference). */
const LOG_GROUP_NAME = /^[.\-_/#A-Za-z0-9]{1,512}$/;

/** Object keys are at most 1,024 bytes of UTF-8 (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html). */
const MAX_KEY_BYTES = 1024;

/** Control characters (C0, DEL, C1): never in a key or stream name the state machine builds. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** A value for an error message: quoted, and cut to 200 characters (the input may be anything). */
function show(value: string): string {
  return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);
}

function invalid(message: string): LogForwarderError {
  return new LogForwarderError(LOG_FORWARDER_ERRORS.INVALID_INPUT, message);
}

/**
 * The input as a `LogForwarderInput`, or a `LogForwarder.InvalidInput` error that says what is wrong.
 * `env` must name the bucket and log group the function may use (`LOG_FORWARDER_ENV`).
 */
export function parseInput(event: unknown, env: Readonly<Record<string, string | undefined>>): LogForwarderInput {
  const deployedBucket = env[LOG_FORWARDER_ENV.BUCKET];
  const deployedGroup = env[LOG_FORWARDER_ENV.LOG_GROUP];
  if (!deployedBucket || !deployedGroup) {
    throw invalid(`the function's environment must set ${LOG_FORWARDER_ENV.BUCKET} and ${LOG_FORWARDER_ENV.LOG_GROUP}`);
  }
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    throw invalid(`the input must be an object with ${FIELDS.join(', ')}; got ${Array.isArray(event) ? 'an array' : event === null ? 'null' : typeof event}`);
  }
  const record = event as Record<string, unknown>;
  const unknown = Object.keys(record).filter((k) => !(FIELDS as readonly string[]).includes(k));
  if (unknown.length > 0) throw invalid(`unknown input field(s): ${unknown.map(show).join(', ')}; expected only ${FIELDS.join(', ')}`);
  for (const field of FIELDS) {
    if (typeof record[field] !== 'string' || record[field] === '') throw invalid(`'${field}' must be a non-empty string`);
  }
  const { bucket, key, logGroupName, logStreamName } = record as unknown as LogForwarderInput;

  if (bucket !== deployedBucket) throw invalid(`'bucket' must be the job bucket this function serves (${deployedBucket}); got ${show(bucket)}`);
  if (logGroupName !== deployedGroup) throw invalid(`'logGroupName' must be the job log group this function serves (${deployedGroup}); got ${show(logGroupName)}`);
  if (!LOG_GROUP_NAME.test(logGroupName)) throw invalid(`'logGroupName' is not a valid log group name: ${show(logGroupName)}`);

  if (!key.startsWith(RUNS_PREFIX) || !key.endsWith(`/${RUN_LOG_FILE}`)) {
    throw invalid(`'key' must be a run log, ${RUNS_PREFIX}<role ID>:<instance ID>/<execution>/${RUN_LOG_FILE}; got ${show(key)}`);
  }
  const segments = key.slice(RUNS_PREFIX.length).split('/');
  if (segments.length < 3 || segments.some((s) => s === '' || s === '.' || s === '..') || CONTROL.test(key)) {
    throw invalid(`'key' must be a run log, ${RUNS_PREFIX}<role ID>:<instance ID>/<execution>/${RUN_LOG_FILE}, without empty, '.' or '..' segments or control characters; got ${show(key)}`);
  }
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw invalid(`'key' is longer than S3's ${MAX_KEY_BYTES} bytes`);

  if (/[:*]/.test(logStreamName) || CONTROL.test(logStreamName)) {
    throw invalid(`'logStreamName' must not contain ':', '*' or control characters (CloudWatch Logs stream names match [^:*]*); got ${show(logStreamName)}`);
  }
  if ([...logStreamName].length > MAX_STREAM_NAME_CHARS) throw invalid(`'logStreamName' is longer than ${MAX_STREAM_NAME_CHARS} characters`);

  return { bucket, key, logGroupName, logStreamName };
}
