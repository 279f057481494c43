import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { INSTANCE_TAGS } from '../protocol';
import { terminateInstancesState, terminateTaggedInstancesPolicy } from './terminate';

/** State names of the cleanup state machine. Part of the API: do not rename. */
export const CLEANUP_STATES = {
  FIND: 'Find instances of the execution',
  ANY: 'Any instances left?',
  COLLECT: 'Collect instance IDs',
  NONE: 'No instances left',
  TERMINATE: 'Terminate leftover instances',
  TERMINATE_FAILED: 'Leftover terminate failed',
  NEEDS_NOTICE: 'Needs a notification?',
  NOTIFY: 'Notify',
  DONE: 'Done',
} as const;

/** Execution statuses that end a run without its own cleanup path having run. */
export const CLEANUP_STATUSES = ['ABORTED', 'TIMED_OUT', 'FAILED'] as const;

export interface CleanupOptions {
  readonly topic: sns.ITopic;
  readonly pipelineId: string;
}

export interface Cleanup {
  readonly definition: sfn.IChainable;
  readonly policies: iam.PolicyStatement[];
}

/**
 * The cleanup run for an execution of the run state machine that ended ABORTED (StopExecution),
 * TIMED_OUT (execution-level timeout) or FAILED. Its input is the EventBridge
 * "Step Functions Execution Status Change" event. It finds the execution's instances by their tags,
 * terminates those still alive, and notifies unless the run already did (a FAILED run that went through
 * its own Terminate/Notify path leaves no live instance behind, and is not notified twice).
 */
export function buildCleanup(scope: Construct, o: CleanupOptions): Cleanup {

  const find = new tasks.CallAwsService(scope, CLEANUP_STATES.FIND, {
    service: 'ec2',
    action: 'describeInstances',
    parameters: {
      Filters: [
        { Name: `tag:${INSTANCE_TAGS.PIPELINE}`, Values: [o.pipelineId] },
        { Name: `tag:${INSTANCE_TAGS.EXECUTION}`, Values: sfn.JsonPath.array(sfn.JsonPath.stringAt('$.detail.name')) },
        { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
      ],
    },
    // DescribeInstances has no resource-level permissions: AWS only accepts "*" for it.
    iamResources: ['*'],
    resultSelector: { 'reservations.$': '$.Reservations' },
    resultPath: '$.leftover',
  });
  find.addRetry({ errors: [sfn.Errors.ALL], interval: Duration.seconds(2), backoffRate: 2, maxAttempts: 6, jitterStrategy: sfn.JitterType.FULL });

  const terminate = terminateInstancesState(scope, CLEANUP_STATES.TERMINATE, '$.leftover.ids');
  const terminateFailed = new sfn.Pass(scope, CLEANUP_STATES.TERMINATE_FAILED, { comment: 'Reported in the notification' });
  terminate.addCatch(terminateFailed, { errors: [sfn.Errors.ALL], resultPath: '$.terminateError' });

  const notify = new tasks.SnsPublish(scope, CLEANUP_STATES.NOTIFY, {
    topic: o.topic,
    subject: sfn.JsonPath.format('{}: {}', sfn.JsonPath.stringAt('$.detail.status'), sfn.JsonPath.stringAt('$.detail.name')),
    message: sfn.TaskInput.fromObject({
      status: sfn.JsonPath.stringAt('$.detail.status'),
      pipeline: o.pipelineId,
      execution: sfn.JsonPath.stringAt('$.detail.name'),
      executionArn: sfn.JsonPath.stringAt('$.detail.executionArn'),
      terminatedInstances: sfn.JsonPath.listAt('$.leftover.ids'),
      note: 'The run ended without its own cleanup (stopped, timed out or failed in the service); the cleanup terminated what it found.',
    }),
    resultPath: sfn.JsonPath.DISCARD,
  });
  notify.addRetry({ errors: [sfn.Errors.ALL], interval: Duration.seconds(2), backoffRate: 2, maxAttempts: 5, jitterStrategy: sfn.JitterType.FULL });
  const done = new sfn.Succeed(scope, CLEANUP_STATES.DONE);

  const needsNotice = new sfn.Choice(scope, CLEANUP_STATES.NEEDS_NOTICE)
    .when(
      sfn.Condition.or(
        sfn.Condition.not(sfn.Condition.stringEquals('$.detail.status', 'FAILED')),
        sfn.Condition.isPresent('$.leftover.ids[0]'),
      ),
      notify.next(done),
    )
    .otherwise(done);

  terminate.next(needsNotice);
  terminateFailed.next(needsNotice);

  // A wildcard path that matches nothing is an error in JSONPath, so the empty case gets its own state.
  const collect = new sfn.Pass(scope, CLEANUP_STATES.COLLECT, {
    parameters: { 'ids.$': '$.leftover.reservations[*].Instances[*].InstanceId' },
    resultPath: '$.leftover',
  }).next(terminate);
  const none = new sfn.Pass(scope, CLEANUP_STATES.NONE, {
    result: sfn.Result.fromObject({ ids: [] }),
    resultPath: '$.leftover',
  }).next(needsNotice);
  const definition = find.next(
    new sfn.Choice(scope, CLEANUP_STATES.ANY).when(sfn.Condition.isPresent('$.leftover.reservations[0]'), collect).otherwise(none),
  );

  return { definition, policies: [terminateTaggedInstancesPolicy(scope, o.pipelineId)] };
}
