import { ArnFormat, Aws, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { INSTANCE_TAGS } from '../protocol';

/**
 * A TerminateInstances task for the instance IDs at `instanceIdsPath` (a JSONPath or intrinsic giving a list),
 * retried until it sticks (an instance that is already gone counts as terminated).
 *
 * A custom state rather than CallAwsService, whose IAM statement could not carry the tag condition of
 * {@link terminateTaggedInstancesPolicy}.
 */
export function terminateInstancesState(scope: Construct, id: string, instanceIdsPath: string): sfn.CustomState {
  const terminate = new sfn.CustomState(scope, id, {
    stateJson: {
      Type: 'Task',
      Resource: `arn:${Aws.PARTITION}:states:::aws-sdk:ec2:terminateInstances`,
      Parameters: { 'InstanceIds.$': instanceIdsPath },
      ResultPath: null,
    },
  });
  terminate.addRetry({
    errors: [sfn.Errors.ALL],
    interval: Duration.seconds(2),
    backoffRate: 2,
    maxAttempts: 8,
    maxDelay: Duration.seconds(60),
    jitterStrategy: sfn.JitterType.FULL,
  });
  return terminate;
}

/** TerminateInstances, only on instances that carry this pipeline's tag. */
export function terminateTaggedInstancesPolicy(scope: Construct, pipelineId: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    actions: ['ec2:TerminateInstances'],
    resources: [Stack.of(scope).formatArn({ service: 'ec2', resource: 'instance', resourceName: '*', arnFormat: ArnFormat.SLASH_RESOURCE_NAME })],
    conditions: { StringEquals: { [`aws:ResourceTag/${INSTANCE_TAGS.PIPELINE}`]: pipelineId } },
  });
}
