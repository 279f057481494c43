/**
 * Activity mode's hand-overs: where a worker leaves another instance's task, reading one left for this instance, and
 * the activity task's input that says whose a task is.
 */
// The SDK is bundled into the runtime asset by esbuild, so it is (correctly) only a devDependency of the library.
// eslint-disable-next-line import/no-extraneous-dependencies
import { GetObjectCommand } from '@aws-sdk/client-s3';
// eslint-disable-next-line import/no-extraneous-dependencies
import type { S3Client } from '@aws-sdk/client-s3';
import type { Log } from './log';
import { errorMessage, typeName } from './util';
import { HANDOFF_PREFIX } from '../protocol';
import type { ActivityTaskInput, TaskDocument } from '../protocol';

export type { ActivityTaskInput } from '../protocol';

/** The S3 key where a worker leaves the task of instance `instanceId` for it. */
export function handoffKey(instanceId: string): string {
  return `${HANDOFF_PREFIX}${instanceId}.json`;
}

/**
 * The hand-over left for us at `key`: the task document, or `undefined` when there is none yet (404, or 403: without
 * `s3:ListBucket`, S3 answers a missing key with AccessDenied). A document that is not usable is logged and skipped.
 */
export async function readHandoff(
  s3: S3Client, bucket: string, key: string, abortSignal: AbortSignal | undefined, log: Log,
): Promise<TaskDocument | undefined> {
  let text: string;
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal });
    text = res.Body ? await res.Body.transformToString('utf8') : '';
  } catch (e) {
    const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    const name = (e as { name?: string }).name;
    if (status === 404 || status === 403 || name === 'NoSuchKey' || name === 'AccessDenied') return undefined;
    throw e;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    log(`the hand-over at s3://${bucket}/${key} is not valid JSON (${errorMessage(e)}); ignoring it`);
    return undefined;
  }
  const token = (doc as { taskToken?: unknown } | null)?.taskToken;
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || typeof token !== 'string' || token.length === 0) {
    log(`the hand-over at s3://${bucket}/${key} has no task token; ignoring it`);
    return undefined;
  }
  return doc as TaskDocument;
}

/** Parse an activity task's input: it must be a JSON object naming an instance (`instanceId`, a non-empty string). */
export function parseActivityInput(text: string | undefined): { value: ActivityTaskInput } | { invalid: string } {
  let value: unknown;
  try {
    value = JSON.parse(text ?? '');
  } catch (e) {
    return { invalid: `not JSON (${errorMessage(e)})` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { invalid: `must be a JSON object, got ${typeName(value)}` };
  const id = (value as { instanceId?: unknown }).instanceId;
  if (typeof id !== 'string' || id.length === 0) {
    return { invalid: `"instanceId" must be a non-empty string, got ${JSON.stringify(id) ?? 'nothing'}` };
  }
  return { value: value as ActivityTaskInput };
}
