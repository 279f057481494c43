import { Duration } from 'aws-cdk-lib';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { STATES } from './states';

/**
 * How a notification is retried, in both state machines. A run's status is what matters: a notification that still
 * cannot be sent after these retries never changes it.
 */
export const NOTIFY_RETRY: sfn.RetryProps = {
  errors: [sfn.Errors.ALL],
  interval: Duration.seconds(2),
  backoffRate: 2,
  maxAttempts: 5,
  jitterStrategy: sfn.JitterType.FULL,
};

export interface ReportProps {
  readonly topic: sns.ITopic;
  readonly pipelineId: string;
  readonly maxAttempts: number;
  /** Where the attempt's output log is, as a States.Format expression. */
  readonly logUrl: string;
  /** Where the job's staged outputs went, as a States.Format expression; only with `staging.outputPrefix`. */
  readonly outputLocation?: string;
  readonly notifyOnSuccess: boolean;
  readonly notifyOnFailure: boolean;
}

/**
 * The ends of a run: one notification per run, status in the subject, then Succeeded or Failed (with the error and cause
 * of `$.error`). Two ways in, `onSuccess` and `onFailure`, and no way out, so not a fragment.
 *
 * The message is a fixed set of fields: nothing of the run state is copied in wholesale, so its size stays bounded by
 * what each field can hold. The largest are the failure's `cause` (at most 32,768 characters: SendTaskFailure's limit,
 * MAX_CAUSE_CHARS) and the success's `job`, the runtime's task output: the last OUTPUT_TAIL_BYTES of output, and the
 * job's result inline up to 32 KiB of JSON or, when larger, only where the runtime stored it (`job.resultLocation`).
 * Even with every character escaped to 6 bytes, that is under SNS's 262,144-byte message limit
 * (test/fixtures/aws/sns-publish-limits.json; test/workflow/run.test.ts computes the bound and measures it).
 */
export class Report extends Construct {
  /** Where a run goes once its job succeeded and its instance is terminated. */
  public readonly onSuccess: sfn.IChainable;
  /** Where a run goes once it failed for good (its instance, if any, is terminated); `$.error` says why. */
  public readonly onFailure: sfn.IChainable;

  constructor(scope: Construct, id: string, props: ReportProps) {
    super(scope, id);
    const failed = new sfn.Fail(this, STATES.FAILED, {
      comment: 'The run failed; error and cause say why (the instance, if any, is already terminated).',
      errorPath: '$.error.Error',
      causePath: '$.error.Cause',
    });
    const succeeded = new sfn.Succeed(this, STATES.SUCCEEDED);
    const notify = (stateName: string, status: 'SUCCEEDED' | 'FAILED', end: sfn.State, details: Record<string, unknown>) => {
      const publish = new tasks.SnsPublish(this, stateName, {
        topic: props.topic,
        subject: sfn.JsonPath.format(`${status}: {}`, sfn.JsonPath.executionName),
        message: sfn.TaskInput.fromObject({
          status,
          pipeline: props.pipelineId,
          execution: sfn.JsonPath.executionName,
          executionArn: sfn.JsonPath.executionId,
          attempt: sfn.JsonPath.numberAt('$.attempt'),
          maxAttempts: props.maxAttempts,
          instanceId: sfn.JsonPath.stringAt('$.instance.InstanceId'),
          ...details,
          log: props.logUrl,
        }),
        resultPath: sfn.JsonPath.DISCARD,
      });
      publish.addRetry(NOTIFY_RETRY);
      publish.addCatch(end, { errors: [sfn.Errors.ALL], resultPath: '$.notifyError' });
      return publish.next(end);
    };
    this.onFailure = props.notifyOnFailure
      ? notify(STATES.NOTIFY_FAILURE, 'FAILED', failed, {
        error: sfn.JsonPath.stringAt('$.error.Error'),
        cause: sfn.JsonPath.stringAt('$.error.Cause'),
      })
      : failed;
    this.onSuccess = props.notifyOnSuccess
      ? notify(STATES.NOTIFY_SUCCESS, 'SUCCEEDED', succeeded, {
        // The whole task output: exit code, duration, output tail, and `result` or `resultLocation` (+ `resultBytes`).
        job: sfn.JsonPath.objectAt('$.job'),
        ...(props.outputLocation !== undefined ? { outputLocation: props.outputLocation } : {}),
      })
      : succeeded;
  }
}
