import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { IAcknowledgedState, NagAcknowledgement } from '../nag';
import { INSTANCE_TAGS } from '../protocol';
import { NOTIFY_RETRY } from './report';
import { pipelineStateMachine } from './state-machine';
import { CLEANUP_STATES } from './states';
import { TerminateInstances } from './terminate';

/** Execution statuses that end a run without its own cleanup path having run. */
export const CLEANUP_STATUSES = ['ABORTED', 'TIMED_OUT', 'FAILED'] as const;

/**
 * How often EventBridge retries starting the cleanup: its maximum. A cleanup that never starts leaves an instance
 * running until its hard cap, so the rule keeps trying for as long as EventBridge allows (185 attempts within
 * MAX_EVENT_AGE). Source: Amazon EventBridge API Reference, RetryPolicy, "MaximumRetryAttempts ... Valid Range:
 * Minimum value of 0. Maximum value of 185" (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_RetryPolicy.html).
 */
export const CLEANUP_RETRY_ATTEMPTS = 185;

/** How long EventBridge keeps trying: 24 hours, RetryPolicy's maximum MaximumEventAgeInSeconds (86400; same page). */
export const CLEANUP_MAX_EVENT_AGE = Duration.hours(24);

export interface CleanupProps {
  readonly topic: sns.ITopic;
  readonly pipelineId: string;
  /** The run state machine whose executions it cleans up after. */
  readonly runStateMachine: sfn.IStateMachine;
  /** Where state transitions are logged (shared with the run state machine). */
  readonly logs: logs.ILogGroup;
  /** A step after the run's instances are dealt with, given the state to go on to (with maxConcurrentJobs: the slot's release). */
  readonly afterInstances?: (next: sfn.IChainable) => sfn.IChainable;
}

/**
 * The backstop for runs that end without their own Catch path (StopExecution, execution timeout, service failure):
 * an EventBridge rule on the run state machine's ABORTED, TIMED_OUT and FAILED status changes starts a state machine
 * that finds the execution's instances by their tags, terminates those still alive, and notifies unless the run
 * already did (a FAILED run that went through its own Terminate/Notify path leaves no live instance behind, and is not
 * notified twice).
 */
export class Cleanup {
  public readonly stateMachine: sfn.StateMachine;
  public readonly rule: events.Rule;

  constructor(pipeline: Construct, props: CleanupProps) {
    this.stateMachine = pipelineStateMachine(pipeline, 'CleanupStateMachine', {
      definition: new CleanupSteps(pipeline, 'Cleanup', props),
      comment: 'Terminates the instances of a run that ended without its own cleanup, and notifies',
      timeout: Duration.hours(1),
      logs: props.logs,
    });
    this.rule = new events.Rule(pipeline, 'CleanupRule', {
      description: 'Starts the cleanup when a shell script pipeline run ends ABORTED, TIMED_OUT or FAILED',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [props.runStateMachine.stateMachineArn], status: [...CLEANUP_STATUSES] },
      },
      targets: [new targets.SfnStateMachine(this.stateMachine, { retryAttempts: CLEANUP_RETRY_ATTEMPTS, maxEventAge: CLEANUP_MAX_EVENT_AGE })],
    });
  }
}

/** The cleanup's states. Its input is the EventBridge "Step Functions Execution Status Change" event. */
class CleanupSteps extends sfn.StateMachineFragment {
  public readonly startState: sfn.State;
  public readonly endStates: sfn.INextable[] = [];

  constructor(scope: Construct, id: string, props: CleanupProps) {
    super(scope, id);
    const find = new FindInstances(this, CLEANUP_STATES.FIND, props.pipelineId);
    find.addRetry({ errors: [sfn.Errors.ALL], interval: Duration.seconds(2), backoffRate: 2, maxAttempts: 6, jitterStrategy: sfn.JitterType.FULL });

    const terminate = new TerminateInstances(this, CLEANUP_STATES.TERMINATE, { instanceIds: '$.leftover.ids', pipelineId: props.pipelineId });
    const terminateFailed = new sfn.Pass(this, CLEANUP_STATES.TERMINATE_FAILED, { comment: 'Reported in the notification' });
    terminate.addCatch(terminateFailed, { errors: [sfn.Errors.ALL], resultPath: '$.terminateError' });

    const notify = new tasks.SnsPublish(this, CLEANUP_STATES.NOTIFY, {
      topic: props.topic,
      subject: sfn.JsonPath.format('{}: {}', sfn.JsonPath.stringAt('$.detail.status'), sfn.JsonPath.stringAt('$.detail.name')),
      message: sfn.TaskInput.fromObject({
        status: sfn.JsonPath.stringAt('$.detail.status'),
        pipeline: props.pipelineId,
        execution: sfn.JsonPath.stringAt('$.detail.name'),
        executionArn: sfn.JsonPath.stringAt('$.detail.executionArn'),
        terminatedInstances: sfn.JsonPath.listAt('$.leftover.ids'),
        note: 'The run ended without its own cleanup (stopped, timed out or failed in the service); the cleanup terminated what it found.',
      }),
      resultPath: sfn.JsonPath.DISCARD,
    });
    notify.addRetry(NOTIFY_RETRY);
    const done = new sfn.Succeed(this, CLEANUP_STATES.DONE);

    const needsNotice = new sfn.Choice(this, CLEANUP_STATES.NEEDS_NOTICE)
      .when(
        sfn.Condition.or(
          sfn.Condition.not(sfn.Condition.stringEquals('$.detail.status', 'FAILED')),
          sfn.Condition.isPresent('$.leftover.ids[0]'),
        ),
        notify.next(done),
      )
      .otherwise(done);
    const afterInstances = props.afterInstances ? props.afterInstances(needsNotice) : needsNotice;
    terminate.next(afterInstances);
    terminateFailed.next(afterInstances);

    // A wildcard path that matches nothing may be an error in JSONPath (test/fixtures/aws/sfn-jsonpath-no-match.json),
    // so the empty case gets its own state. The test is on the first reservation, so "Reservations" absent and empty
    // both count as none (test/fixtures/aws/ec2-describe-instances-empty.json).
    const collect = new sfn.Pass(this, CLEANUP_STATES.COLLECT, {
      parameters: { 'ids.$': '$.leftover.Reservations[*].Instances[*].InstanceId' },
      resultPath: '$.leftover',
    }).next(terminate);
    const none = new sfn.Pass(this, CLEANUP_STATES.NONE, {
      result: sfn.Result.fromObject({ ids: [] }),
      resultPath: '$.leftover',
    }).next(afterInstances);
    find.next(new sfn.Choice(this, CLEANUP_STATES.ANY).when(sfn.Condition.isPresent('$.leftover.Reservations[0]'), collect).otherwise(none));
    this.startState = find;
  }
}

/** DescribeInstances for the execution's live instances, by the pipeline and execution tags. */
class FindInstances extends tasks.CallAwsService implements IAcknowledgedState {
  constructor(scope: Construct, id: string, pipelineId: string) {
    super(scope, id, {
      service: 'ec2',
      action: 'describeInstances',
      parameters: {
        Filters: [
          { Name: `tag:${INSTANCE_TAGS.PIPELINE}`, Values: [pipelineId] },
          { Name: `tag:${INSTANCE_TAGS.EXECUTION}`, Values: sfn.JsonPath.array(sfn.JsonPath.stringAt('$.detail.name')) },
          { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
        ],
      },
      // DescribeInstances has no resource type in the Service Authorization Reference (Actions defined by Amazon EC2,
      // https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html): only "*" grants it.
      iamResources: ['*'],
      // No ResultSelector: `$.Reservations` there would fail the state (States.Runtime) if DescribeInstances left the
      // key out when nothing matches. AWS most likely sends `[]` (the fixture), but no source shows it either way.
      resultPath: '$.leftover',
    });
  }

  public nagAcknowledgements(): NagAcknowledgement[] {
    return [{ id: 'AwsSolutions-IAM5[Resource::*]', reason: 'ec2:DescribeInstances has no resource-level permissions: the cleanup finds leftover instances by tag.' }];
  }
}
