/**
 * Results too large to return inline (over `MAX_INLINE_RESULT_BYTES`): stored in S3 as `result.json` under the location
 * the bootstrap gives `run --spill-to` (the run's own prefix, beside its log), and named in the task output instead.
 */
// The SDK is bundled into the runtime asset by esbuild, so it is (correctly) only a devDependency of the library.
// eslint-disable-next-line import/no-extraneous-dependencies
import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client, loadS3 } from './aws-clients';
import type { Log } from './log';
import { DEFAULT_RETRY, retry } from './retry';
import type { RetryPolicy } from './retry';
import { RESULT_OBJECT_NAME } from '../protocol';

/** Where a large result is stored: the object `prefix + result.json` in `bucket`. */
export interface SpillLocation {
  readonly bucket: string;
  /** Key prefix: empty, or ending with `/`. */
  readonly prefix: string;
}

/** Options for storing a result too large to return inline. */
export interface ResultSpillOptions {
  /** `s3://BUCKET/PREFIX/`: the result is stored at `s3://BUCKET/PREFIX/result.json`. */
  readonly location: string;
  /** S3 client. Default: {@link createS3Client} (the S3 SDK is loaded only when a result is stored). */
  readonly s3Client?: S3Client;
  /** Retry policy of the upload (missing fields from {@link DEFAULT_RETRY}). */
  readonly retry?: Partial<RetryPolicy>;
}

/**
 * Longest key S3 accepts, in UTF-8 bytes: "The object key name consists of a sequence of Unicode characters encoded in
 * UTF-8, with a maximum length of 1,024 bytes" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html).
 */
const MAX_KEY_BYTES = 1_024;

/**
 * General purpose bucket names: 3 to 63 characters, lowercase letters, numbers, dots and hyphens, beginning and ending
 * with a letter or number (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html). Only the
 * shape is checked; S3 itself refuses a name that breaks its other rules.
 */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Timeout of one PutObject attempt, in ms (a stored result is at most MAX_RESULT_FILE_BYTES). */
const UPLOAD_ATTEMPT_TIMEOUT_MS = 60_000;

/**
 * Parse `s3://BUCKET/PREFIX/` (PREFIX may be empty; a `/` is added if it does not end with one). The key is taken
 * as written (no percent-decoding). Throws an Error saying what is wrong: a bucket name that is not one, control
 * characters (the location is echoed in the task output and in logs), or a key over S3's 1,024 bytes.
 */
export function parseSpillLocation(url: string): SpillLocation {
  const match = /^s3:\/\/([^/]*)(?:\/(.*))?$/s.exec(url);
  if (!match) throw new Error(`must be s3://BUCKET/PREFIX/, got "${url}"`);
  const bucket = match[1];
  if (!BUCKET_NAME.test(bucket)) throw new Error(`"${bucket}" is not an S3 bucket name (in "${url}")`);
  let prefix = match[2] ?? '';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(prefix)) throw new Error(`the key prefix must not contain control characters (in ${JSON.stringify(url)})`);
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
  const keyBytes = Buffer.byteLength(prefix + RESULT_OBJECT_NAME, 'utf8');
  if (keyBytes > MAX_KEY_BYTES) throw new Error(`the key ${prefix}${RESULT_OBJECT_NAME} would be ${keyBytes} bytes; S3 keys are at most ${MAX_KEY_BYTES}`);
  return { bucket, prefix };
}

/** The `s3://` URL of the stored result. */
export function spilledResultUrl(location: SpillLocation): string {
  return `s3://${location.bucket}/${location.prefix}${RESULT_OBJECT_NAME}`;
}

/**
 * Store `json` (the result's compact JSON) at `location` with one PutObject, retried like every call of the runtime.
 * Resolves with the object's `s3://` URL; rejects with the last error.
 */
export async function storeResult(
  location: SpillLocation, json: string, options: { s3Client?: S3Client; retry?: Partial<RetryPolicy>; log: Log },
): Promise<string> {
  const { PutObjectCommand } = loadS3();
  const s3 = options.s3Client ?? createS3Client();
  const key = `${location.prefix}${RESULT_OBJECT_NAME}`;
  const url = spilledResultUrl(location);
  try {
    await retry(`PutObject ${url}`, (abortSignal) => s3.send(new PutObjectCommand({
      Bucket: location.bucket,
      Key: key,
      Body: json,
      ContentType: 'application/json',
    }), { abortSignal }), {
      policy: { ...DEFAULT_RETRY, ...options.retry },
      log: options.log,
      attemptTimeoutMs: UPLOAD_ATTEMPT_TIMEOUT_MS,
    });
  } finally {
    if (!options.s3Client) s3.destroy();
  }
  return url;
}
