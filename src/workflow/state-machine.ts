import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { acknowledge, isAcknowledgedState } from '../nag';

export interface PipelineStateMachineProps {
  readonly definition: sfn.IChainable;
  readonly comment: string;
  /** The execution timeout. */
  readonly timeout?: Duration;
  /** Where state transitions are logged. */
  readonly logs: logs.ILogGroup;
  /** CloudFormation substitutions in the definition (`${Key}`). */
  readonly definitionSubstitutions?: { [key: string]: string };
}

/**
 * The log group prefix Step Functions recommends: log delivery to other names adds to the account's CloudWatch Logs
 * resource policy, whose size is limited, and deployments fail once it is full ("Invalid Logging Configuration: The
 * CloudWatch Logs Resource Policy size was exceeded. We suggest prefixing your CloudWatch log group name with
 * /aws/vendedlogs/states/."; test/fixtures/aws/cwl-resource-policy-size.json,
 * https://docs.aws.amazon.com/step-functions/latest/dg/bp-cwl.html).
 */
export const STATE_MACHINE_LOG_PREFIX = '/aws/vendedlogs/states/';

/**
 * The log group a pipeline's state machines log to, named after the pipeline (`<stack name>-<8 characters unique to
 * the pipeline>`, the `pipelineId`), so two pipelines never share one. Stack names are at most 128 characters
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html), so the
 * name (at most 160) fits CloudWatch Logs' 512, and its ARN Step Functions' 256
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_CloudWatchLogsLogGroup.html). Kept 3 months;
 * deleted with the stack.
 */
export function stateMachineLogGroup(scope: Construct, id: string, pipelineId: string): logs.LogGroup {
  return new logs.LogGroup(scope, id, {
    logGroupName: `${STATE_MACHINE_LOG_PREFIX}${pipelineId}`,
    retention: logs.RetentionDays.THREE_MONTHS,
    removalPolicy: RemovalPolicy.DESTROY,
  });
}

/**
 * A Standard state machine as both of the pipeline's are: X-Ray tracing, and every state transition logged without
 * execution data (which holds task tokens and job output). Its role gets the IAM its states carry, and the cdk-nag
 * acknowledgements those states give for it, on the role's policy.
 */
export function pipelineStateMachine(scope: Construct, id: string, props: PipelineStateMachineProps): sfn.StateMachine {
  const machine = new sfn.StateMachine(scope, id, {
    definitionBody: sfn.DefinitionBody.fromChainable(props.definition),
    definitionSubstitutions: props.definitionSubstitutions,
    stateMachineType: sfn.StateMachineType.STANDARD,
    comment: props.comment,
    timeout: props.timeout,
    tracingEnabled: true,
    logs: { destination: props.logs, level: sfn.LogLevel.ALL, includeExecutionData: false },
  });
  const policy = machine.role.node.findChild('DefaultPolicy');
  const states = sfn.State.findReachableStates(props.definition.startState, { includeErrorHandlers: true });
  for (const state of states) {
    if (isAcknowledgedState(state)) acknowledge(policy, ...state.nagAcknowledgements());
  }
  acknowledge(policy, {
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'Added by CDK for X-Ray tracing (xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) and CloudWatch Logs ' +
      'delivery (logs:CreateLogDelivery and related): AWS offers no resource-level permissions for these actions.',
  });
  return machine;
}
