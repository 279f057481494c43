/**
 * Fakes for the AWS calls of the run state machine in the local ASL interpreter (test/support/local-sfn.ts), keyed by
 * state name, and the assertions every local run shares.
 */
import { awsError, Handler, LocalRunResult } from './local-sfn';
import { STATES } from '../../src/workflow/states';

/** The instance ID every good-day launch returns. */
export const INSTANCE = 'i-0123456789abcdef0';

/** The states a successful run enters, in order (the input checks run in the validation state machine). */
export const SUCCESS_PATH = [
  STATES.VALIDATE_INPUT,
  STATES.INPUT_VALID,
  STATES.PREPARE,
  STATES.SCRIPT_OR_USER_INPUT,
  STATES.CHECK_SCRIPT,
  STATES.LAUNCH,
  STATES.PAUSE,
  STATES.TERMINATE,
  STATES.DID_JOB_SUCCEED,
  STATES.NOTIFY_SUCCESS,
  STATES.SUCCEEDED,
];

/** A distinct instance ID per launch: i-00…0<n>. */
export function instanceFor(n: number): string {
  return `i-${String(n).padStart(17, '0')}`;
}

/** Fakes for every AWS call the run makes, answering as the services would on a good day. */
export function happyHandlers(): Record<string, Handler> {
  return {
    [STATES.CHECK_SCRIPT]: () => ({ ContentLength: 42 }),
    [STATES.LAUNCH]: () => ({ Instances: [{ InstanceId: INSTANCE, State: { Name: 'pending' } }] }),
    [STATES.PAUSE]: () => ({ exitCode: 0, durationSeconds: 12, outputTail: 'done\n' }),
    [STATES.TERMINATE]: () => ({ TerminatingInstances: [{ InstanceId: INSTANCE }] }),
    [STATES.NOTIFY_SUCCESS]: () => ({ MessageId: 'm-1' }),
    [STATES.NOTIFY_FAILURE]: () => ({ MessageId: 'm-1' }),
  };
}

/** Fakes that hand out a new instance ID on every launch and run `jobs` in order, one per attempt. */
export function attemptHandlers(jobs: Array<() => any>, extra: Record<string, Handler> = {}): Record<string, Handler> {
  let launches = 0;
  let attempt = 0;
  const launch = () => ({ Instances: [{ InstanceId: instanceFor(++launches) }] });
  return {
    [STATES.CHECK_SCRIPT]: () => ({}),
    [STATES.LAUNCH]: launch,
    [STATES.LAUNCH_SPOT]: launch,
    [STATES.PAUSE]: () => jobs[Math.min(attempt++, jobs.length - 1)](),
    [STATES.TERMINATE]: () => ({}),
    [STATES.NOTIFY_SUCCESS]: () => ({ MessageId: 'm' }),
    [STATES.NOTIFY_FAILURE]: () => ({ MessageId: 'm' }),
    ...extra,
  };
}

/** A job that succeeds. */
export const ok = () => ({ exitCode: 0, durationSeconds: 1, outputTail: 'ok\n' });

/** A job that fails with `error`. */
export const fails = (error: string) => () => {
  throw awsError(error, `${error} (attempt failed)`);
};

/** Every notification the run sent, success or failure. */
export function notifications(r: LocalRunResult): any[] {
  return [...(r.calls[STATES.NOTIFY_SUCCESS] ?? []), ...(r.calls[STATES.NOTIFY_FAILURE] ?? [])];
}

/** The assertions every run shares: one notification with the status in its subject, and the right cleanup. */
export function expectOutcome(r: LocalRunResult, status: 'SUCCEEDED' | 'FAILED', opts: { terminated: boolean; error?: string }): void {
  expect(r.status).toBe(status);
  const sent = notifications(r);
  expect(sent).toHaveLength(1);
  expect(sent[0].Subject).toBe(`${status}: exec-1`);
  expect(sent[0].Message.status).toBe(status);
  expect(sent[0].Message.execution).toBe('exec-1');
  if (opts.terminated) {
    expect(r.calls[STATES.TERMINATE]?.at(-1)).toEqual({ InstanceIds: [INSTANCE] });
  } else {
    expect(r.calls[STATES.TERMINATE]).toBeUndefined();
  }
  if (opts.error) {
    expect(r.error).toBe(opts.error);
    expect(sent[0].Message.error).toBe(opts.error);
    expect(typeof sent[0].Message.cause).toBe('string');
    expect(sent[0].Message.cause).toBe(r.cause);
  }
}
