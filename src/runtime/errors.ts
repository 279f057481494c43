/**
 * The errors that mean a task token is no longer usable, and the reporter's own refusals.
 */

/**
 * Step Functions errors that mean the task token is no longer usable: the run is over on the service side.
 * The errors of SendTaskHeartbeat/SendTaskSuccess/SendTaskFailure besides throttling and validation
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskHeartbeat.html#API_SendTaskHeartbeat_Errors):
 * `TaskTimedOut` is "the task token has either expired or the task associated with the token has already been closed".
 */
export const LOST_TASK_ERRORS: readonly string[] = ['TaskTimedOut', 'InvalidToken', 'TaskDoesNotExist'];

/** The task token is no longer usable (`TaskTimedOut`, `InvalidToken`, `TaskDoesNotExist`): the run is over. */
export class TaskLostError extends Error {
  /** The Step Functions error name (e.g. `TaskTimedOut`), or `HeartbeatsFailing` when heartbeats failed for too long. */
  public readonly reason: string;
  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super(message);
    this.name = 'TaskLostError';
    this.reason = reason;
    if (options && 'cause' in options) (this as { cause?: unknown }).cause = options.cause;
  }
}

/** A final result was already sent (or is being sent) for this task; a reporter never sends two. */
export class TaskAlreadyClosedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TaskAlreadyClosedError';
  }
}

/** The Step Functions error name if `err` means the task token is gone, else `undefined`. */
export function lostTaskReason(err: unknown): string | undefined {
  if (err instanceof TaskLostError) return err.reason;
  const name = (err as { name?: unknown } | undefined)?.name;
  return typeof name === 'string' && LOST_TASK_ERRORS.includes(name) ? name : undefined;
}
