/**
 * Job-side runtime: answers one Step Functions task token while a job runs on the instance.
 *
 * - {@link readTaskDocument} reads the task document the state machine wrote for this instance (./task-document).
 * - {@link TaskReporter} sends heartbeats and exactly one final result, with bounded retries (./reporter, ./retry).
 * - {@link runJob} runs a command under a task token: claims the token, heartbeats, forwards output, watches for Spot
 *   interruption notices, and reports the outcome (./run-job).
 * - {@link claimActivityTask} (activity mode) finds this instance's task among the tasks of a shared Step Functions
 *   activity, handing the ones it draws for other instances over to them (./activity-claim).
 *
 * This module only exports. It is bundled (with the AWS SDK, through ./cli) into `assets/runtime/cli/heartbeat.js`,
 * which runs with the instance's own Node.js (20+). The runtime imports nothing from the construct library except the
 * shared protocol.
 */
export type { ActivityTaskInput, TaskDocument } from '../protocol';
export {
  ActivityClaimError, claimActivityTask, DEFAULT_ACTIVITY_POLL_TIMEOUT_MS, DEFAULT_ACTIVITY_WAIT_SECONDS, DEFAULT_HANDOFF_INTERVAL_MS,
} from './activity-claim';
export type { ClaimActivityOptions, ClaimedActivityTask } from './activity-claim';
export { createS3Client } from './aws-clients';
export { LOST_TASK_ERRORS, lostTaskReason, TaskAlreadyClosedError, TaskLostError } from './errors';
export { handoffKey, parseActivityInput } from './handoff';
export { defaultHeartbeatIntervalMs } from './heartbeats';
export { INVALID_RESULT_ERROR, MAX_OUTPUT_BYTES } from './job-outcome';
export type { JobSuccessOutput, RunOutcome, RunResult } from './job-outcome';
export { stderrLog } from './log';
export type { Log } from './log';
export { TaskReporter } from './reporter';
export type { FinalOutcome, HeartbeatOptions, TaskReporterOptions } from './reporter';
export { DEFAULT_RETRY, isRetryableError } from './retry';
export type { RetryPolicy } from './retry';
export { runJob } from './run-job';
export type { RunJobOptions, RunJobTask } from './run-job';
export type { SpotNotice } from './spot-watcher';
export { checkJobEnv, ENV_NAME_PATTERN, parseTaskDocument, readTaskDocument, TaskDocumentError } from './task-document';
export type { JobEnvProblem } from './task-document';
export { fitCause, truncateHead, truncateTail } from './text';
