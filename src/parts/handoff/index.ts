import { ActivityHandoff } from './activity';
import { Handoff } from './handoff';
import { TaskTokenHandoff } from './task-token';

export type { Handoff, HandoffContext } from './handoff';

/**
 * How "Pause for Job Completion" hands an execution's task token to the instance that runs its job.
 */
export enum TaskHandoff {
  /**
   * The state machine writes this execution's task token to an S3 object only its own instance may read
   * (`s3:putObject.waitForTaskToken`). Timers start when the token is written, so an instance that never
   * boots fails the run after `heartbeatTimeout`.
   */
  TASK_TOKEN = 'TASK_TOKEN',
  /**
   * Seed compatible: "Pause for Job Completion" waits on a Step Functions activity the construct creates,
   * and jobs (or the heartbeat runtime) poll it with `GetActivityTask`, like the AWS sample's `job.js`.
   * Each task names its instance; an instance that draws another instance's task hands it over through
   * the job bucket. A task nobody polls ends with the execution timeout and the cleanup.
   */
  ACTIVITY = 'ACTIVITY',
}

/** The hand-off of `taskHandoff` (TASK_TOKEN by default), not yet bound to the pipeline. */
export function handoffFor(mode: TaskHandoff | undefined): Handoff {
  return mode === TaskHandoff.ACTIVITY ? new ActivityHandoff() : new TaskTokenHandoff();
}
