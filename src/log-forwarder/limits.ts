/**
 * The CloudWatch Logs limits the forwarder works within, and the budget it chooses for one run.
 *
 * PutLogEvents, API reference (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html,
 * also the doc comment of `PutLogEventsCommand` in @aws-sdk/client-cloudwatch-logs 3.1169.0):
 * - "The maximum batch size is 1,048,576 bytes. This size is calculated as the sum of all event messages in UTF-8,
 *   plus 26 bytes for each log event."
 * - "The maximum number of log events in a batch is 10,000."
 * - "Each log event can be no larger than 1 MB." Until April 2025 this read "256 KB", and the service answered
 *   `InvalidParameterException: Log event too large: 315563 bytes exceeds limit of 262144` (aws/aws-sdk-js-v3#6164;
 *   phpnexus/cwh v3.1.3 release notes: "1MB, to match new size allowed by AWS as of April 2025"). Whether the 26 bytes
 *   count towards that limit is not documented (amekkawi/cwlogs-writable#18 counts them: 262,118 bytes of message).
 * - "The log events in the batch must be in chronological order by their timestamp"; events more than 2 hours in the
 *   future or older than 14 days (or than the group's retention) are rejected while the rest are accepted; "the time
 *   span in a single batch cannot exceed 24 hours".
 */

/** Most bytes one PutLogEvents call may carry: UTF-8 message bytes plus `EVENT_OVERHEAD_BYTES` per event. */
export const MAX_BATCH_BYTES = 1_048_576;

/** What each event adds to a batch's size on top of its message. */
export const EVENT_OVERHEAD_BYTES = 26;

/** Most events in one PutLogEvents call. */
export const MAX_BATCH_EVENTS = 10_000;

/**
 * Longest event message the forwarder sends, in UTF-8 bytes; longer lines are split into several events.
 * 256 KiB minus the 26 bytes of overhead fits both the old 256 KB limit (however it is counted) and today's 1 MB, so
 * the forwarder does not depend on which one a region enforces.
 */
export const MAX_EVENT_MESSAGE_BYTES = 262_144 - EVENT_OVERHEAD_BYTES;

/**
 * How much of a run log the forwarder sends, as the PutLogEvents size of its events (message bytes + 26 each), taken
 * from the start of the log; the same again is taken from its end, and a marker line stands for what lies between.
 * It also reads at most this many bytes of each end from S3.
 *
 * 2 MiB + 2 MiB: the whole log stays in S3 (the marker names it), and CloudWatch gets the start (what the job set up)
 * and the end (how it failed). The bound keeps one run's ingestion at most 4 MiB (about $0.002 at $0.50 per GB), the
 * function's work at most 4 MiB of S3 reads and about 16 PutLogEvents calls (a few seconds, well inside its 1-minute
 * timeout, even for a log of empty lines: 4 MiB / 27 bytes = 155,000 events = 16 batches of 10,000), and its memory at
 * a few times 4 MiB (it has 256 MB). A typical log (100 KB) is forwarded whole in one call.
 */
export const HEAD_BUDGET_BYTES = 2 * 1024 * 1024;

/** The budget taken from the end of the log; see `HEAD_BUDGET_BYTES`. */
export const TAIL_BUDGET_BYTES = 2 * 1024 * 1024;

/** The budget of one run, in PutLogEvents bytes, and the most bytes of the object read from S3. */
export interface ForwardLimits {
  readonly headBytes: number;
  readonly tailBytes: number;
}

export const DEFAULT_LIMITS: ForwardLimits = { headBytes: HEAD_BUDGET_BYTES, tailBytes: TAIL_BUDGET_BYTES };
