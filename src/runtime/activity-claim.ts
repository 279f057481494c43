/**
 * Activity mode (seed compatibility): find this instance's task among the tasks of a Step Functions *activity*.
 *
 * The instances of concurrent executions all poll the same activity, and Step Functions gives any queued task to any
 * poller. Each task's input ({@link ActivityTaskInput}) names the instance that must run it. A worker that draws
 * another instance's task heartbeats it once and leaves it in the bucket at `HANDOFF_PREFIX + <instance-id>.json`
 * (tagged for its owner), while it looks for a hand-over left for itself there. See {@link claimActivityTask}.
 */
// The SDK is bundled into the runtime asset by esbuild, so it is (correctly) only a devDependency of the library.
// eslint-disable-next-line import/no-extraneous-dependencies
import { PutObjectCommand } from '@aws-sdk/client-s3';
// eslint-disable-next-line import/no-extraneous-dependencies
import type { S3Client } from '@aws-sdk/client-s3';
// eslint-disable-next-line import/no-extraneous-dependencies
import { GetActivityTaskCommand } from '@aws-sdk/client-sfn';
// eslint-disable-next-line import/no-extraneous-dependencies
import type { SFNClient } from '@aws-sdk/client-sfn';
import { createActivitySfnClient, createS3Client } from './aws-clients';
import { lostTaskReason } from './errors';
import { handoffKey, parseActivityInput, readHandoff } from './handoff';
import { stderrLog } from './log';
import type { Log } from './log';
import { TaskReporter } from './reporter';
import { DEFAULT_RETRY, retry, RetryAbortedError } from './retry';
import type { RetryPolicy } from './retry';
import { describeError, sleep } from './util';
import { CLI_EXIT, JOB_ERRORS, OWNER_TAG } from '../protocol';
import type { TaskDocument } from '../protocol';

/** The shortest wait for this instance's task that {@link claimActivityTask} and `claim-activity` default to, in seconds. */
export const DEFAULT_ACTIVITY_WAIT_SECONDS = 600;

/**
 * Client-side timeout of one GetActivityTask long poll, in ms. The service holds a poll for up to 60 s and asks
 * clients for a socket timeout of at least 65 s
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_GetActivityTask.html).
 */
export const DEFAULT_ACTIVITY_POLL_TIMEOUT_MS = 70_000;

/** How often {@link claimActivityTask} looks for a hand-over left for this instance, in ms. */
export const DEFAULT_HANDOFF_INTERVAL_MS = 2_000;

/** Timeout of one S3 request (and of one heartbeat) while claiming, in ms. */
const S3_ATTEMPT_TIMEOUT_MS = 10_000;

/** Options for {@link claimActivityTask}. */
export interface ClaimActivityOptions {
  /** ARN of the activity all instances poll. */
  readonly activityArn: string;
  /** This instance's ID: the `instanceId` its own task's input names, and the `workerName` of its polls. */
  readonly instanceId: string;
  /** The job bucket, where hand-overs are left (under `HANDOFF_PREFIX`). */
  readonly bucket: string;
  /**
   * This instance's role session `aws:userid`, `<RoleId>:<InstanceId>`. Hand-overs are tagged
   * `ssp-owner=<RoleId>:<owner instance ID>`, so that only the owner's role session can read them.
   */
  readonly ownerTagValue: string;
  /**
   * Give up after this many ms without finding this instance's task. Default
   * {@link DEFAULT_ACTIVITY_WAIT_SECONDS} s. A poll in flight at that moment is still awaited (and what it returns is
   * handled), so giving up can take up to one more poll.
   */
  readonly waitMs?: number;
  /**
   * Client-side timeout of one GetActivityTask call, in ms (only for the client this function creates). Default
   * {@link DEFAULT_ACTIVITY_POLL_TIMEOUT_MS}; it must be at least 65 000 against AWS.
   */
  readonly pollTimeoutMs?: number;
  /** How often to look for a hand-over, in ms. Default {@link DEFAULT_HANDOFF_INTERVAL_MS}. */
  readonly handoffIntervalMs?: number;
  /**
   * Step Functions client for GetActivityTask and the heartbeats. Its socket timeout must outlast a long poll. Default:
   * a new `SFNClient` (standard region/credential chain, `AWS_ENDPOINT_URL_SFN` honoured, `maxAttempts: 1`,
   * socket and request timeouts of `pollTimeoutMs`).
   */
  readonly sfnClient?: SFNClient;
  /**
   * S3 client. Default: {@link createS3Client} (standard chain, `AWS_ENDPOINT_URL_S3` honoured, path-style requests
   * only when that variable is set, `maxAttempts: 1`).
   */
  readonly s3Client?: S3Client;
  /** Retry policy for every call (missing fields from {@link DEFAULT_RETRY}). */
  readonly retry?: Partial<RetryPolicy>;
  /** Logger. Default {@link stderrLog}. */
  readonly log?: Log;
}

/** This instance's task, as {@link claimActivityTask} found it. */
export interface ClaimedActivityTask {
  /** The task document to run (as in default mode: `taskToken` plus the task input without `instanceId`). */
  readonly document: TaskDocument;
  /** Whether this instance drew the task itself (`poll`) or found it handed over by another instance (`handoff`). */
  readonly source: 'poll' | 'handoff';
  /**
   * Settles once the GetActivityTask call that was in flight when the task was found has ended and what it returned
   * was handed over (or failed, if it cannot be run by anyone); the clients this function created are released then.
   * Rejects with an {@link ActivityClaimError} if that hand-over failed. Keep the process alive until it settles: a
   * task the service gives to a poll that is dropped is lost until its heartbeat timeout.
   */
  readonly drained: Promise<void>;
}

/** Claiming the activity task failed. `exitCode` is `CLI_EXIT.LOST` (gave up waiting) or `CLI_EXIT.REPORT_FAILED`. */
export class ActivityClaimError extends Error {
  /** The `claim-activity` exit code for this failure. */
  public readonly exitCode: number;
  constructor(exitCode: number, message: string, options?: { cause?: unknown }) {
    super(message);
    this.name = 'ActivityClaimError';
    this.exitCode = exitCode;
    if (options && 'cause' in options) (this as { cause?: unknown }).cause = options.cause;
  }
}

/**
 * Find this instance's task among the tasks of a shared activity.
 *
 * - Polls `GetActivityTask(activityArn, workerName: instanceId)` in a loop (long polls; an empty answer means nothing
 *   is queued). A drawn task whose input names this instance is ours. One that names another instance gets one
 *   heartbeat (its heartbeat timer started when it was drawn) and is left in the bucket at
 *   `HANDOFF_PREFIX + <owner>.json` (the owner's task document), tagged `ssp-owner=<RoleId>:<owner>`; a task whose
 *   input names no instance cannot be run by anyone and is failed with `Bootstrap.Failed`.
 * - Meanwhile, every `handoffIntervalMs`, looks for `HANDOFF_PREFIX + <instanceId>.json`: another instance may have
 *   drawn our task (404/403 mean "not there yet").
 * - Resolves as soon as our task is found. No new poll starts after that, but a poll in flight is never aborted:
 *   `drained` settles when it has ended and its task (if any) was handed over.
 *
 * Every call retries throttling, 5xx, timeouts and network errors with the {@link RetryPolicy}. Rejects with an
 * {@link ActivityClaimError}: `CLI_EXIT.LOST` when our task was not found within `waitMs`, `CLI_EXIT.REPORT_FAILED`
 * when a call was refused (AccessDenied, unknown activity, ...) or kept failing.
 */
export async function claimActivityTask(options: ClaimActivityOptions): Promise<ClaimedActivityTask> {
  const { activityArn, instanceId, bucket, ownerTagValue } = options;
  for (const [name, value] of Object.entries({ activityArn, instanceId, bucket, ownerTagValue })) {
    if (typeof value !== 'string' || value.length === 0) throw new Error(`claimActivityTask: ${name} must be a non-empty string`);
  }
  const colon = ownerTagValue.indexOf(':');
  if (colon <= 0) throw new Error(`claimActivityTask: ownerTagValue must be "<RoleId>:<InstanceId>", got "${ownerTagValue}"`);
  const roleId = ownerTagValue.slice(0, colon);
  const log = options.log ?? stderrLog;
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...options.retry };
  const waitMs = options.waitMs ?? DEFAULT_ACTIVITY_WAIT_SECONDS * 1000;
  const pollTimeoutMs = options.pollTimeoutMs ?? DEFAULT_ACTIVITY_POLL_TIMEOUT_MS;
  const handoffIntervalMs = options.handoffIntervalMs ?? DEFAULT_HANDOFF_INTERVAL_MS;
  const sfn = options.sfnClient ?? createActivitySfnClient(pollTimeoutMs);
  const s3 = options.s3Client ?? createS3Client();
  const release = () => {
    if (!options.sfnClient) sfn.destroy();
    if (!options.s3Client) s3.destroy();
  };
  const deadline = Date.now() + waitMs;

  let own: { document: TaskDocument; source: 'poll' | 'handoff' } | undefined;
  let resolveOwn!: () => void;
  const ownFound = new Promise<void>((resolve) => (resolveOwn = resolve));
  /** Aborted when no new call should start: our task was found, a call failed for good, or the polls ended. */
  const stop = new AbortController();
  let fatal: ActivityClaimError | undefined;
  const setFatal = (e: unknown) => {
    if (!fatal) fatal = e instanceof ActivityClaimError ? e : new ActivityClaimError(CLI_EXIT.REPORT_FAILED, describeError(e), { cause: e });
    stop.abort();
  };
  const setOwn = (document: TaskDocument, source: 'poll' | 'handoff') => {
    own = { document, source };
    stop.abort();
    resolveOwn();
  };

  /** A reporter for a drawn task, on the shared client (which it does not destroy). */
  const reporterFor = (token: string) =>
    new TaskReporter({ taskToken: token, client: sfn, retry: policy, log, attemptTimeoutMs: S3_ATTEMPT_TIMEOUT_MS });

  const failTask = async (token: string, cause: string) => {
    const reporter = reporterFor(token);
    try {
      await reporter.fail(JOB_ERRORS.BOOTSTRAP_FAILED, cause);
      log(`failed the task with ${JOB_ERRORS.BOOTSTRAP_FAILED}: ${cause}`);
    } catch (e) {
      if (lostTaskReason(e)) return log(`could not fail the task: it is already gone (${describeError(e)})`);
      throw new ActivityClaimError(CLI_EXIT.REPORT_FAILED, `could not fail an unusable activity task: ${describeError(e)}`, { cause: e });
    }
  };

  const handOver = async (token: string, owner: string, document: TaskDocument) => {
    const reporter = reporterFor(token);
    try {
      await reporter.heartbeat();
    } catch (e) {
      if (lostTaskReason(e)) {
        return log(`drew the task of instance ${owner} (execution ${document.executionName}), but it is already gone (${describeError(e)}); not handing it over`);
      }
      // The hand-over is what matters; its owner claims the token with a heartbeat of its own.
      log(`could not heartbeat the task of instance ${owner} (${describeError(e)}); handing it over anyway`);
    }
    const key = handoffKey(owner);
    const tagging = `${OWNER_TAG}=${encodeURIComponent(`${roleId}:${owner}`)}`;
    await retry(`PutObject s3://${bucket}/${key}`, (abortSignal) => s3.send(new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: JSON.stringify(document),
      ContentType: 'application/json',
      Tagging: tagging,
    }), { abortSignal }), { policy, log, attemptTimeoutMs: S3_ATTEMPT_TIMEOUT_MS }).catch((e) => {
      throw new ActivityClaimError(CLI_EXIT.REPORT_FAILED,
        `could not hand the task of instance ${owner} over (s3://${bucket}/${key}): ${describeError(e)}`, { cause: e });
    });
    log(`drew the task of instance ${owner} (execution ${document.executionName}); handed it over at s3://${bucket}/${key}`);
  };

  const handleDrawn = async (token: string, inputText: string | undefined) => {
    const input = parseActivityInput(inputText);
    if ('invalid' in input) {
      log(`drew an activity task no instance can run: ${input.invalid}`);
      return failTask(token, `the activity task input is not a valid ActivityTaskInput: ${input.invalid}`);
    }
    const { instanceId: owner, ...rest } = input.value;
    const document = { taskToken: token, ...rest } as TaskDocument;
    if (owner !== instanceId) return handOver(token, owner, document);
    if (!own) {
      log(`drew this instance's task (execution ${document.executionName})`);
      return setOwn(document, 'poll');
    }
    // A second task for the same instance: it can never run; say so instead of letting it time out.
    return failTask(token, `instance ${instanceId} drew a second task for itself (execution ${document.executionName}) `
      + `after claiming the task of execution ${own.document.executionName}; an instance runs one task`);
  };

  const pollLoop = async () => {
    while (!stop.signal.aborted && Date.now() < deadline) {
      // `stop` only cuts a wait between retries short: a poll is never aborted (a task given to a dropped poll is lost
      // until its heartbeat timeout), so the call ignores the retry loop's abort signal.
      const out = await retry('GetActivityTask',
        () => sfn.send(new GetActivityTaskCommand({ activityArn, workerName: instanceId })),
        { policy, log, waitSignal: stop.signal }).catch(stoppedOr((e) =>
        new ActivityClaimError(CLI_EXIT.REPORT_FAILED, `GetActivityTask on ${activityArn} failed: ${describeError(e)}`, { cause: e })));
      if (out === STOPPED) break;
      if (out.taskToken) await handleDrawn(out.taskToken, out.input);
    }
  };

  const checkLoop = async () => {
    const key = handoffKey(instanceId);
    while (!stop.signal.aborted) {
      const document = await retry(`GetObject s3://${bucket}/${key}`,
        (abortSignal) => readHandoff(s3, bucket, key, abortSignal, log),
        { policy, log, attemptTimeoutMs: S3_ATTEMPT_TIMEOUT_MS, signals: [stop.signal] }).catch(stoppedOr((e) =>
        new ActivityClaimError(CLI_EXIT.REPORT_FAILED, `could not look for a hand-over at s3://${bucket}/${key}: ${describeError(e)}`, { cause: e })));
      if (document === STOPPED) break;
      if (document) {
        // Even if the polls just ended (deadline): a task found is never thrown away.
        if (!own) {
          log(`found this instance's task (execution ${document.executionName}) handed over at s3://${bucket}/${key}`);
          setOwn(document, 'handoff');
        }
        break;
      }
      await sleep(handoffIntervalMs, [stop.signal]).catch(() => undefined);
    }
  };

  const polls = pollLoop().catch(setFatal).finally(() => stop.abort());
  const checks = checkLoop().catch((e) => {
    if (!own) setFatal(e);
  });
  const all = Promise.all([polls, checks]);
  await Promise.race([ownFound, all]);

  if (!own) {
    await all;
    release();
    throw fatal ?? new ActivityClaimError(CLI_EXIT.LOST,
      `no activity task for instance ${instanceId} within ${Math.round(waitMs / 100) / 10} s (neither drawn nor handed over)`);
  }
  const drained = all.then(() => {
    if (fatal) throw fatal;
  }).finally(release);
  drained.catch(() => undefined); // callers that ignore `drained` must not get an unhandled rejection
  return { ...own, drained };
}

/** What a retried call gives back when its loop was told to stop (between attempts, or with the call aborted). */
const STOPPED = Symbol('stopped');

/** `STOPPED` if the retry loop was stopped by its signals, else rethrow `wrap(e)`. */
function stoppedOr(wrap: (e: unknown) => Error): (e: unknown) => typeof STOPPED {
  return (e) => {
    if (e instanceof RetryAbortedError) return STOPPED;
    throw wrap(e);
  };
}
