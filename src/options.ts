import * as scheduler from 'aws-cdk-lib/aws-scheduler';

/**
 * The input of one run: the same fields as an execution's input.
 */
export interface JobInput {
  /**
   * Key of the shell script in the job bucket. Give this or `userInput`.
   *
   * @default - none; `userInput` must be set
   */
  readonly script?: string;

  /**
   * Arguments passed to the script.
   *
   * @default - no arguments
   */
  readonly args?: string[];

  /**
   * Environment variables for the script.
   *
   * @default - none
   */
  readonly env?: { [name: string]: string };

  /**
   * Bash text run as the job, as in the AWS Data Pipeline sample's `{"userInput": "..."}`. Give this or `script`.
   *
   * @default - none; `script` must be set
   */
  readonly userInput?: string;
}

/**
 * A schedule that starts runs with a fixed input.
 */
export interface PipelineSchedule {
  /**
   * When to start a run, e.g. `ScheduleExpression.cron({ hour: '2', minute: '0', timeZone: TimeZone.EUROPE_LONDON })`
   * or `ScheduleExpression.rate(Duration.hours(6))`.
   */
  readonly expression: scheduler.ScheduleExpression;

  /**
   * The input of every scheduled run.
   */
  readonly input: JobInput;

  /**
   * Whether the schedule starts runs; `false` creates it disabled.
   *
   * @default true
   */
  readonly enabled?: boolean;
}

/**
 * Folders synced between the job bucket and the instance around the script (Data Pipeline's staging).
 */
export interface StagingOptions {
  /**
   * Prefixes in the job bucket copied to `$SSP_INPUT_DIR/<prefix>` on the instance before the script runs.
   *
   * @default - nothing is copied in; `$SSP_INPUT_DIR` is an empty directory
   */
  readonly inputPrefixes?: string[];

  /**
   * Prefix in the job bucket that receives `$SSP_OUTPUT_DIR` after the script succeeds, under
   * `<outputPrefix>/<execution name>/`.
   *
   * @default - nothing is copied out
   */
  readonly outputPrefix?: string;
}
