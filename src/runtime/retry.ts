/**
 * The one retry loop of the runtime: every AWS call that is retried (heartbeats, final results, activity polls, S3
 * hand-overs) goes through {@link retry}, with bounded exponential backoff and full jitter.
 */
import type { Log } from './log';
import { describeError, linkSignals, sleep } from './util';

/** Bounded exponential backoff with full jitter: before retry `n` (1-based), wait `random(0, min(maxDelayMs, baseDelayMs * 2^(n-1)))`. */
export interface RetryPolicy {
  /** Total attempts per call, including the first. */
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/** Default retry policy: 8 attempts, 200 ms base, 5 s cap (about 10 s of retrying on average). */
export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 8, baseDelayMs: 200, maxDelayMs: 5_000 };

/**
 * The wait before retry `retryNumber` (1-based): full jitter over the capped exponential step,
 * `random * min(maxDelayMs, baseDelayMs * 2^(retryNumber-1))` with `random` in [0, 1).
 */
export function backoffDelayMs(policy: RetryPolicy, retryNumber: number, random: number = Math.random()): number {
  return random * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retryNumber - 1));
}

const RETRYABLE_NAMES = new Set([
  'ThrottlingException', 'Throttling', 'ThrottledException', 'TooManyRequestsException', 'RequestThrottled',
  'RequestThrottledException', 'RequestLimitExceeded', 'SlowDown', 'ProvisionedThroughputExceededException',
  'BandwidthLimitExceeded', 'PriorRequestNotComplete', 'EC2ThrottledException',
  'RequestTimeout', 'RequestTimeoutException', 'TimeoutError',
  'InternalFailure', 'InternalServerError', 'InternalError', 'ServiceUnavailable', 'ServiceUnavailableException',
]);

const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'ENETDOWN', 'EHOSTDOWN', 'ECONNABORTED', 'ESOCKETTIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT',
]);

const WRAPPED_NETWORK_ERROR = new RegExp(`^AWS SDK error wrapper for .*\\b(${[...NETWORK_CODES, 'TimeoutError', 'socket hang up'].join('|')})\\b`);

/** Whether an SDK call failure is worth retrying: throttling, 5xx/429 answers, timeouts and network errors. */
export function isRetryableError(err: unknown): boolean {
  const seen = new Set<unknown>();
  const check = (e: unknown): boolean => {
    if (typeof e !== 'object' || e === null || seen.has(e)) return false;
    seen.add(e);
    const x = e as {
      name?: unknown; code?: unknown; $retryable?: unknown; $metadata?: { httpStatusCode?: unknown }; cause?: unknown; errors?: unknown;
    };
    if (typeof x.name === 'string' && RETRYABLE_NAMES.has(x.name)) return true;
    if (typeof x.code === 'string' && (NETWORK_CODES.has(x.code) || RETRYABLE_NAMES.has(x.code))) return true;
    if (x.$retryable) return true;
    const status = x.$metadata?.httpStatusCode;
    if (typeof status === 'number' && (status === 429 || status >= 500)) return true;
    if (Array.isArray(x.errors) && x.errors.some(check)) return true;
    // The SDK wraps non-Error throwables (e.g. from another realm) as "AWS SDK error wrapper for <original>".
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && WRAPPED_NETWORK_ERROR.test(message)) return true;
    return check(x.cause);
  };
  return check(err);
}

/** {@link retry} was stopped by one of its signals (before an attempt, during one, or between two). */
export class RetryAbortedError extends Error {
  constructor(action: string) {
    super(`${action} aborted`);
    this.name = 'AbortError';
  }
}

/** Options for {@link retry}. */
export interface RetryOptions {
  /** How many attempts, and the backoff between them. */
  readonly policy: RetryPolicy;
  /** Where each retry is logged. */
  readonly log: Log;
  /**
   * Abort an attempt after this many ms; it is then retried as a `TimeoutError`. Default: none (the client's own
   * timeouts apply).
   */
  readonly attemptTimeoutMs?: number;
  /**
   * Stop retrying at this time (`Date.now()` ms): the last error is thrown instead of waiting past it, and an attempt's
   * timeout (if any) is cut to it.
   */
  readonly deadline?: number;
  /** Abort the attempt in flight and stop retrying: {@link RetryAbortedError}. */
  readonly signals?: ReadonlyArray<AbortSignal | undefined>;
  /**
   * Only cuts a wait between attempts short ({@link RetryAbortedError}); an attempt in flight is never aborted by it
   * (e.g. an activity long poll: a task given to a dropped poll is lost until its heartbeat timeout).
   */
  readonly waitSignal?: AbortSignal;
  /** The error to throw at once instead of retrying or rethrowing the call's error, if any (e.g. a lost task token). */
  readonly fatal?: (err: unknown) => Error | undefined;
  /** The wait before retry `n` (1-based). Default: {@link backoffDelayMs} of `policy`. */
  readonly delayMs?: (retryNumber: number) => number;
}

/**
 * Call `call` until it succeeds, retrying errors that {@link isRetryableError} accepts (and attempts cut short by
 * `attemptTimeoutMs`) up to `policy.maxAttempts` attempts in all, or until `deadline`. `call` gets an abort signal
 * that fires on the attempt's timeout or one of `signals`. Every retry is logged as
 * `<action> failed (<error>); retry <n>/<max retries> in <ms> ms`.
 */
export async function retry<T>(action: string, call: (abortSignal: AbortSignal) => Promise<T>, options: RetryOptions): Promise<T> {
  const signals = options.signals ?? [];
  const { policy, deadline } = options;
  const aborted = () => signals.some((s) => s?.aborted);
  const firstStart = Date.now();
  let previous: unknown;
  for (let attempt = 1; ; attempt++) {
    if (aborted()) throw new RetryAbortedError(action);
    let budget = options.attemptTimeoutMs;
    if (budget !== undefined && deadline !== undefined) budget = Math.max(1, Math.min(budget, deadline - Date.now()));
    const attemptStart = Date.now();
    const attemptCtl = new AbortController();
    let timedOut = false;
    const timer = budget === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      attemptCtl.abort();
    }, budget);
    const unlink = linkSignals(attemptCtl, [...signals]);
    let err: unknown;
    try {
      return await call(attemptCtl.signal);
    } catch (e) {
      if (aborted()) throw new RetryAbortedError(action);
      const fatal = options.fatal?.(e);
      if (fatal) throw fatal;
      err = timedOut
        ? timeoutError(action, { attempt, attemptMs: Date.now() - attemptStart, totalMs: Date.now() - firstStart, previous, cause: e })
        : e;
      previous = err;
      if (!timedOut && !isRetryableError(e)) throw err;
      if (attempt >= policy.maxAttempts) throw err;
    } finally {
      if (timer) clearTimeout(timer);
      unlink();
    }
    let wait = options.delayMs ? options.delayMs(attempt) : backoffDelayMs(policy, attempt);
    if (deadline !== undefined) {
      const left = deadline - Date.now();
      if (left <= 0) throw err;
      wait = Math.min(wait, left);
    }
    const of = Number.isFinite(policy.maxAttempts) ? `/${policy.maxAttempts - 1}` : '';
    options.log(`${action} failed (${describeError(err)}); retry ${attempt}${of} in ${Math.round(wait)} ms`);
    await sleep(wait, [...signals, options.waitSignal]).catch(() => {
      throw new RetryAbortedError(action);
    });
  }
}

/**
 * The error of an attempt cut short by its timeout, with the time it really took: a retry close to the deadline gets
 * only what is left of it, so on a later attempt the message also says how long the call has been tried and why the
 * attempt before failed (an unreachable endpoint shows as its connection error, not as "timed out after 1 ms").
 */
function timeoutError(action: string, t: { attempt: number; attemptMs: number; totalMs: number; previous: unknown; cause: unknown }): Error {
  const history = t.attempt > 1
    ? ` (attempt ${t.attempt}, ${t.totalMs} ms since the first${t.previous === undefined ? '' : `; the attempt before failed with ${describeError(t.previous)}`})`
    : '';
  return Object.assign(new Error(`${action} timed out after ${t.attemptMs} ms${history}`), { name: 'TimeoutError', cause: t.cause });
}
