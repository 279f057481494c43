import { ArnFormat, Aws, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { IAcknowledgedState, NagAcknowledgement, wildcardResource } from '../nag';
import { INSTANCE_TAGS } from '../protocol';

export interface TerminateInstancesProps {
  /** A JSONPath or intrinsic that gives the list of instance IDs, e.g. `States.Array($.instance.InstanceId)`. */
  readonly instanceIds: string;
  /** The pipeline tag's value: only instances carrying it may be terminated. */
  readonly pipelineId: string;
}

/**
 * `ec2:terminateInstances` on the instances at `instanceIds`, retried until it sticks (an instance that is already gone
 * counts as terminated). It carries its own IAM, like aws-cdk-lib's CallAwsService, but its statement has a condition:
 * TerminateInstances only on instances that carry this pipeline's tag, which CallAwsService's first statement cannot
 * express. So it renders its task JSON itself (a CustomState) and registers `taskPolicies` with the graph the way
 * TaskStateBase does.
 */
export class TerminateInstances extends sfn.CustomState implements IAcknowledgedState {
  /** The statements the role that runs this state needs. */
  public readonly taskPolicies: iam.PolicyStatement[];
  private readonly instanceArn: string;

  constructor(scope: Construct, id: string, props: TerminateInstancesProps) {
    super(scope, id, {
      stateJson: {
        Type: 'Task',
        Resource: `arn:${Aws.PARTITION}:states:::aws-sdk:ec2:terminateInstances`,
        Parameters: { 'InstanceIds.$': props.instanceIds },
        ResultPath: null,
      },
    });
    this.addRetry({
      errors: [sfn.Errors.ALL],
      interval: Duration.seconds(2),
      backoffRate: 2,
      maxAttempts: 8,
      maxDelay: Duration.seconds(60),
      jitterStrategy: sfn.JitterType.FULL,
    });
    this.instanceArn = Stack.of(this).formatArn({ service: 'ec2', resource: 'instance', resourceName: '*', arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
    this.taskPolicies = [
      new iam.PolicyStatement({
        actions: ['ec2:TerminateInstances'],
        resources: [this.instanceArn],
        conditions: { StringEquals: { [`aws:ResourceTag/${INSTANCE_TAGS.PIPELINE}`]: props.pipelineId } },
      }),
    ];
  }

  public nagAcknowledgements(): NagAcknowledgement[] {
    return [
      {
        id: wildcardResource(this, this.instanceArn),
        reason:
          "Instance IDs are only known at run time. TerminateInstances on instance/* is conditioned on this pipeline's tag, " +
          'which only instances this pipeline launched carry (RunInstances requires the request to set it).',
      },
    ];
  }

  protected whenBoundToGraph(graph: sfn.StateGraph): void {
    super.whenBoundToGraph(graph);
    for (const statement of this.taskPolicies) graph.registerPolicyStatement(statement);
  }
}
