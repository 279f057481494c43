/**
 * Reads at most the two ends of a run log from S3.
 *
 * One plain GetObject: if the object is at most `headBytes + tailBytes` long, that read is the whole log. Otherwise
 * the forwarder keeps the first `headBytes` of that response, closes it, and reads the last `tailBytes` with a ranged
 * GetObject (`Range: bytes=<size - tailBytes>-<size - 1>`, always satisfiable because size > tailBytes) conditioned on
 * the first read's ETag (`If-Match`), so both ends come from the same object. S3 supports a single byte range per
 * GetObject and answers a failed If-Match with 412 Precondition Failed
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html). A log of any size costs at most two requests
 * and `headBytes + tailBytes` bytes (plus what is in flight when the first response is closed).
 */
import type { Readable } from 'stream';
// The SDK is bundled into the function's asset by esbuild, so it is (correctly) only a devDependency of the library.
// eslint-disable-next-line import/no-extraneous-dependencies
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';

/** The bytes the forwarder has of a run log. */
export interface RunLogBytes {
  /** The object's size. */
  readonly size: number;
  /** When S3 last wrote it, if it said. */
  readonly lastModified?: Date;
  /** The whole object (`tail` unset), or its first bytes. */
  readonly head: Buffer;
  /** The object's last bytes, when it was too large to read whole. */
  readonly tail?: Buffer;
}

export async function readRunLog(s3: S3Client, bucket: string, key: string, headBytes: number, tailBytes: number): Promise<RunLogBytes> {
  const first = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const body = first.Body as Readable | undefined;
  const size = first.ContentLength;
  if (body === undefined || size === undefined) {
    (body as Readable | undefined)?.destroy();
    throw new Error('S3 answered without a body or a Content-Length');
  }
  if (size <= headBytes + tailBytes) {
    const whole = await readAtMost(body, size);
    if (whole.length !== size) throw new Error(`S3 sent ${whole.length} bytes of a ${size}-byte object`);
    return { size, lastModified: first.LastModified, head: whole };
  }
  const head = await readAtMost(body, headBytes);
  const last = await s3.send(new GetObjectCommand({
    Bucket: bucket,
    Key: key,
    Range: `bytes=${size - tailBytes}-${size - 1}`,
    ...(first.ETag ? { IfMatch: first.ETag } : {}),
  }));
  const tail = await readAtMost(last.Body as Readable, tailBytes);
  if (head.length !== headBytes || tail.length !== tailBytes) {
    throw new Error(`S3 sent ${head.length} + ${tail.length} bytes for the ${headBytes} + ${tailBytes} asked of a ${size}-byte object`);
  }
  return { size, lastModified: first.LastModified, head, tail };
}

/** Up to `limit` bytes of `body`; the stream is closed as soon as they have arrived. */
async function readAtMost(body: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of body) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      chunks.push(buf);
      length += buf.length;
      if (length >= limit) break;
    }
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks, length).subarray(0, Math.min(length, limit));
}
