import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { buildLogForwarder } from './log-forwarder';
import { IAcknowledgedState, NagAcknowledgement, wildcardResource } from '../nag';
import { LogForwarderInput, RUN_LOG_FILE, RUNS_PREFIX } from '../protocol';
import type { ShellScriptPipelineProps } from '../shell-script-pipeline-props';
import { INSTANCE_ID_PATH } from '../workflow/run-state';
import { STATES } from '../workflow/states';

/** The props this part owns. */
export type JobLogsProps = Pick<ShellScriptPipelineProps, 'jobLogRetention'>;

/**
 * With `jobLogRetention`: a retained CloudWatch Logs group that also receives each job's output, one stream per
 * attempt, and the trusted log forwarder (src/log-forwarder) that copies it there from the job bucket. The run state
 * machine invokes the forwarder after each attempt (`afterJob`); the instances get no CloudWatch Logs permission at
 * all, so a job can neither write another run's stream nor read any.
 */
export class JobLogs {
  /** The group; only with `jobLogRetention`. */
  public readonly logGroup?: logs.LogGroup;
  /** The log forwarder; only with `jobLogRetention`. */
  public readonly forwarder?: lambda.Function;

  constructor(private readonly pipeline: Construct, props: JobLogsProps, private readonly bucket: s3.IBucket) {
    if (props.jobLogRetention === undefined) return;
    this.logGroup = new logs.LogGroup(pipeline, 'JobLogs', { retention: props.jobLogRetention, removalPolicy: RemovalPolicy.RETAIN });
    this.forwarder = buildLogForwarder(pipeline, bucket, this.logGroup);
  }

  /**
   * The step after each attempt's instance is terminated, before its outcome is decided: the forwarder copies the
   * attempt's run log into the stream `<execution>/<instance ID>`, then the run goes on to `next`. Its failure never
   * changes the run: every error is caught and the run goes on to `next` just the same, with what happened in
   * `$.jobLog`. Undefined without `jobLogRetention`.
   *
   * @param instanceRoleId the instance role's RoleId: with the instance ID it names the attempt's run folder
   */
  public afterJob(instanceRoleId: string): ((next: sfn.IChainable) => sfn.IChainable) | undefined {
    const { logGroup, forwarder } = this;
    if (!logGroup || !forwarder) return undefined;
    return (next) => {
      const forward = new ForwardJobLog(this.pipeline, STATES.FORWARD_JOB_LOG, {
        forwarder,
        input: {
          bucket: this.bucket.bucketName,
          key: sfn.JsonPath.format(
            // Where the bootstrap uploads the log: pipeline/runs/<RoleId>:<InstanceId>/<execution>/output.log.
            `${RUNS_PREFIX}{}:{}/{}/${RUN_LOG_FILE}`,
            instanceRoleId,
            sfn.JsonPath.stringAt(INSTANCE_ID_PATH),
            sfn.JsonPath.executionName,
          ),
          logGroupName: logGroup.logGroupName,
          // Stream names may not contain ':' or '*' (CreateLogStream, pattern [^:*]*:
          // https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogStream.html), so not the
          // role session's aws:userid; execution names cannot contain ':', '*' or '/' (StartExecution, name:
          // https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html), instance IDs are i-<hex>.
          logStreamName: sfn.JsonPath.format('{}/{}', sfn.JsonPath.executionName, sfn.JsonPath.stringAt(INSTANCE_ID_PATH)),
        },
      });
      forward.addCatch(next, { errors: [sfn.Errors.ALL], resultPath: '$.jobLog' });
      return forward.next(next);
    };
  }
}

/**
 * "Forward job log": invokes the log forwarder with a `LogForwarderInput` (typed against the protocol, so a field the
 * function expects cannot go missing here) and keeps its `LogForwarderResult` in `$.jobLog`. The function's own
 * timeout is a minute; the state allows two per attempt. Lambda's transient errors are retried by LambdaInvoke's
 * default retry (`retryOnServiceExceptions`); the forwarder's own errors are not (a retried invocation would append
 * the log again).
 */
class ForwardJobLog extends tasks.LambdaInvoke implements IAcknowledgedState {
  private readonly functionArn: string;

  constructor(
    scope: Construct,
    id: string,
    props: { readonly forwarder: lambda.IFunction; readonly input: Record<keyof LogForwarderInput, string> },
  ) {
    super(scope, id, {
      comment: "Copies this attempt's run log from the job bucket to the job log group; a failure here never changes the run",
      lambdaFunction: props.forwarder,
      payload: sfn.TaskInput.fromObject(props.input),
      payloadResponseOnly: true,
      resultPath: '$.jobLog',
      taskTimeout: sfn.Timeout.duration(Duration.minutes(2)),
    });
    this.functionArn = props.forwarder.functionArn;
  }

  public nagAcknowledgements(): NagAcknowledgement[] {
    return [
      {
        id: wildcardResource(this, `${this.functionArn}:*`),
        reason: "Added by aws-cdk-lib's LambdaInvoke: the versions and aliases of the pipeline's own log forwarder function, and nothing else.",
      },
    ];
  }
}
