/**
 * Forwards one run log from the job bucket into one stream of the job log group.
 */
// The SDK is bundled into the function's asset by esbuild, so it is (correctly) only a devDependency of the library.
// eslint-disable-next-line import/no-extraneous-dependencies
import { CloudWatchLogsClient, CreateLogStreamCommand, PutLogEventsCommand, RejectedLogEventsInfo } from '@aws-sdk/client-cloudwatch-logs';
// eslint-disable-next-line import/no-extraneous-dependencies
import type { S3Client } from '@aws-sdk/client-s3';
import { keepHead, keepTail, logCost, messagesOf, toBatches, toEvents } from './events';
import { LogForwarderError } from './input';
import { DEFAULT_LIMITS, ForwardLimits } from './limits';
import { readRunLog, RunLogBytes } from './read-log';
import { LOG_FORWARDER_ERRORS, LogForwarderInput, LogForwarderResult } from '../protocol';

export interface ForwarderClients {
  readonly s3: S3Client;
  readonly logs: CloudWatchLogsClient;
}

export interface ForwardOptions {
  /** @default DEFAULT_LIMITS */
  readonly limits?: ForwardLimits;
  /** The clock, in epoch milliseconds. @default Date.now */
  readonly now?: () => number;
}

/** The line that stands for the part of the log that was left out. */
export function cutMarker(omittedBytes: number, size: number, bucket: string, key: string): string {
  return `[log-forwarder] ${omittedBytes} of this log's ${size} bytes are left out here; the whole log is s3://${bucket}/${key}`;
}

/** The line a stream gets when the run log is empty. */
export function emptyLogMarker(bucket: string, key: string): string {
  return `[log-forwarder] the run log s3://${bucket}/${key} is empty`;
}

export async function forwardRunLog(input: LogForwarderInput, clients: ForwarderClients, options: ForwardOptions = {}): Promise<LogForwarderResult> {
  const { bucket, key, logGroupName, logStreamName } = input;
  const limits = options.limits ?? DEFAULT_LIMITS;
  const now = (options.now ?? Date.now)();

  let log: RunLogBytes;
  try {
    log = await readRunLog(clients.s3, bucket, key, limits.headBytes, limits.tailBytes);
  } catch (e) {
    throw new LogForwarderError(LOG_FORWARDER_ERRORS.READ_FAILED, `could not read the run log s3://${bucket}/${key}: ${describe(e)}${
      errorName(e) === 'AccessDenied'
        // "If you don't have the s3:ListBucket permission, Amazon S3 returns an HTTP status code 403 Access Denied
        // error" for a missing key (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, Permissions).
        ? ' (S3 answers AccessDenied for a key that does not exist when the caller may not list the bucket, as this function may not: did the instance upload its log?)'
        : ''
    }`, { cause: e });
  }

  // The part of the log to forward: its start and its end within the budget, and how much lies between them.
  let head: Buffer;
  let tail: Buffer;
  let omittedBytes: number;
  if (log.tail === undefined && logCost(log.head) <= limits.headBytes + limits.tailBytes) {
    head = log.head;
    tail = Buffer.alloc(0);
    omittedBytes = 0;
  } else if (log.tail === undefined) {
    const headEnd = keepHead(log.head, limits.headBytes);
    const tailStart = keepTail(log.head, limits.tailBytes, headEnd);
    head = log.head.subarray(0, headEnd);
    tail = log.head.subarray(tailStart);
    omittedBytes = tailStart - headEnd;
  } else {
    const headEnd = keepHead(log.head, limits.headBytes);
    const tailStart = keepTail(log.tail, limits.tailBytes);
    head = log.head.subarray(0, headEnd);
    tail = log.tail.subarray(tailStart);
    omittedBytes = log.size - log.tail.length + tailStart - headEnd;
  }
  const messages = [
    ...messagesOf(head),
    ...(omittedBytes > 0 ? [cutMarker(omittedBytes, log.size, bucket, key)] : []),
    ...messagesOf(tail),
  ];
  if (messages.length === 0) messages.push(emptyLogMarker(bucket, key));

  // The run's end: when the instance uploaded its log (never later than now: PutLogEvents rejects events more than
  // 2 hours in the future, and a clock ahead of ours must not push them there).
  const endTime = Math.min(log.lastModified?.getTime() ?? now, now);
  const batches = toBatches(toEvents(messages, endTime));

  try {
    await clients.logs.send(new CreateLogStreamCommand({ logGroupName, logStreamName }));
  } catch (e) {
    // A retried invocation finds the stream it created: CreateLogStream throws ResourceAlreadyExistsException, "The
    // specified resource already exists" (@aws-sdk/client-cloudwatch-logs 3.1169.0, CreateLogStreamCommand @throws;
    // https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogStream.html, Errors).
    if (errorName(e) !== 'ResourceAlreadyExistsException') {
      throw new LogForwarderError(LOG_FORWARDER_ERRORS.WRITE_FAILED, `could not create log stream '${logStreamName}' in ${logGroupName}: ${describe(e)}`, { cause: e });
    }
  }

  const rejected: string[] = [];
  let written = 0;
  for (const [i, batch] of batches.entries()) {
    let info: RejectedLogEventsInfo | undefined;
    try {
      ({ rejectedLogEventsInfo: info } = await clients.logs.send(new PutLogEventsCommand({ logGroupName, logStreamName, logEvents: batch })));
    } catch (e) {
      throw new LogForwarderError(
        LOG_FORWARDER_ERRORS.WRITE_FAILED,
        `could not write batch ${i + 1} of ${batches.length} to log stream '${logStreamName}' in ${logGroupName} ` +
          `(${written} events were written before it): ${describe(e)}`,
        { cause: e },
      );
    }
    written += batch.length;
    if (info && Object.values(info).some((v) => v !== undefined)) rejected.push(`batch ${i + 1}: ${JSON.stringify(info)}`);
  }
  if (rejected.length > 0) {
    throw new LogForwarderError(
      LOG_FORWARDER_ERRORS.EVENTS_REJECTED,
      `CloudWatch Logs rejected some events of log stream '${logStreamName}' in ${logGroupName} as too old, too new or expired ` +
        `(the others were written): ${rejected.join('; ')}`,
    );
  }

  return { logGroupName, logStreamName, logBytes: log.size, events: written, batches: batches.length, omittedBytes };
}

function errorName(e: unknown): string | undefined {
  return e instanceof Error ? e.name : undefined;
}

function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return `${e.name}${status ? ` (HTTP ${status})` : ''}: ${e.message}`;
}
