/**
 * Keeping a task token alive while its job runs: the first heartbeat that claims it, the heartbeat interval, and the
 * heartbeat loop.
 */
import { lostTaskReason } from './errors';
import type { Log } from './log';
import type { Loops } from './loops';
import type { TaskReporter } from './reporter';
import { DEFAULT_RETRY, isRetryableError, retry } from './retry';
import { describeError, errorMessage } from './util';
import { ENV } from '../protocol';

/** The runtime heartbeats this many times per HeartbeatSeconds, so that one or two lost heartbeats do not lose the task. */
export const HEARTBEATS_PER_HEARTBEAT_TIMEOUT = 3;

/** The shortest default heartbeat interval, in ms. */
export const MIN_HEARTBEAT_INTERVAL_MS = 200;

/**
 * The heartbeat interval `runJob` uses by default for a given HeartbeatSeconds: `SSP_HEARTBEAT_INTERVAL_MS` in `env`
 * if it is a positive number, else HeartbeatSeconds / {@link HEARTBEATS_PER_HEARTBEAT_TIMEOUT} (at least
 * {@link MIN_HEARTBEAT_INTERVAL_MS}).
 */
export function defaultHeartbeatIntervalMs(heartbeatSeconds: number, env: NodeJS.ProcessEnv = process.env): number {
  const override = env[ENV.HEARTBEAT_INTERVAL_MS];
  if (override !== undefined && override !== '') {
    const ms = Number(override);
    if (Number.isFinite(ms) && ms > 0) return ms;
  }
  return Math.max(MIN_HEARTBEAT_INTERVAL_MS, (heartbeatSeconds * 1000) / HEARTBEATS_PER_HEARTBEAT_TIMEOUT);
}

/** What the first heartbeat found out about the token. */
export type ClaimResult =
  | { kind: 'claimed' }
  | { kind: 'lost'; reason: string; message: string }
  | { kind: 'unusable'; error: unknown };

/**
 * The first heartbeat, which claims the token: tried again every `intervalMs` until it works, the token is gone, an
 * error that no retry can fix, or heartbeatSeconds passed (`HeartbeatsFailing`). Aborting `signal` ends it (the value
 * is then `claimed` and meant to be ignored: the caller has a stop request instead).
 */
export async function claimToken(
  reporter: TaskReporter, heartbeatMs: number, intervalMs: number, log: Log, signal: AbortSignal,
): Promise<ClaimResult> {
  const deadline = Date.now() + heartbeatMs;
  try {
    // Each heartbeat retries by itself; this goes on after it gave up, until the deadline.
    await retry('first heartbeat', () => reporter.heartbeat({ deadline, signal }), {
      policy: { ...DEFAULT_RETRY, maxAttempts: Infinity },
      delayMs: () => intervalMs,
      deadline,
      signals: [signal],
      log,
    });
    return { kind: 'claimed' };
  } catch (e) {
    if (signal.aborted) return { kind: 'claimed' }; // superseded by a stop request; the value is ignored
    const reason = lostTaskReason(e);
    if (reason) return { kind: 'lost', reason, message: errorMessage(e) };
    if (!isRetryableError(e)) return { kind: 'unusable', error: e };
    return { kind: 'lost', reason: 'HeartbeatsFailing', message: `the first heartbeat kept failing for ${heartbeatMs / 1000} s: ${describeError(e)}` };
  }
}

/** Options for {@link startHeartbeatLoop}. */
export interface HeartbeatLoopOptions {
  readonly reporter: TaskReporter;
  readonly heartbeatSeconds: number;
  readonly intervalMs: number;
  readonly loops: Loops;
  readonly log: Log;
  /** Called (once; the loop ends) when the token is gone, or no heartbeat was accepted for heartbeatSeconds. */
  readonly onLost: (reason: string, message: string) => void;
}

/**
 * Heartbeat every `intervalMs` until `loops` stop. A failed heartbeat is tried again sooner: the next one comes no
 * later than heartbeatSeconds after the last accepted one.
 */
export function startHeartbeatLoop(o: HeartbeatLoopOptions): void {
  const heartbeatMs = o.heartbeatSeconds * 1000;
  let lastOk = Date.now();
  const tick = async () => {
    try {
      await o.reporter.heartbeat({ deadline: lastOk + heartbeatMs, signal: o.loops.signal });
      lastOk = Date.now();
    } catch (e) {
      if (o.loops.signal.aborted) return;
      const reason = lostTaskReason(e);
      if (reason) return o.onLost(reason, errorMessage(e));
      const silentFor = Date.now() - lastOk;
      if (silentFor >= heartbeatMs) {
        return o.onLost('HeartbeatsFailing',
          `no heartbeat accepted for ${Math.round(silentFor / 100) / 10} s (HeartbeatSeconds is ${o.heartbeatSeconds}); last error: ${describeError(e)}`);
      }
      o.log(`heartbeat failed (${describeError(e)}); trying again`);
    }
    o.loops.schedule(() => void tick(), Math.min(o.intervalMs, Math.max(0, lastOk + heartbeatMs - Date.now())));
  };
  o.loops.schedule(() => void tick(), o.intervalMs);
}
