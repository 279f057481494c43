import { Duration } from 'aws-cdk-lib';
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
