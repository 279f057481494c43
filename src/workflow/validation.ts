import { Duration } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { acknowledge } from '../nag';
import { InputChecks } from './input';

export interface InputValidationProps {
  /** How many subnets the run launches in (see InputChecks). */
  readonly subnets: number;
  /** The pipeline's state machine log group (`/aws/vendedlogs/states/<pipelineId>`, state-machine.ts): it logs failures there. */
  readonly logs: logs.ILogGroup;
}

/**
 * The input validation state machine: every check of an execution's input (input.ts, InputChecks), as an Express
 * state machine the run calls synchronously in its first state ("Validate input").
 *
 * Why a state machine of its own: Standard state machines are billed per state transition, and JSONPath has no way to
 * check that every item of a list is a string but a Map that enters two states per item. Express state machines are
 * billed per request and duration instead ("Express Workflows are charged based on the number of requests for your
 * workflow and its duration", https://aws.amazon.com/step-functions/pricing/), so the run pays one task for any input,
 * and nesting Express in Standard is AWS's own cost advice
 * (https://docs.aws.amazon.com/step-functions/latest/dg/cost-opt-exp-workflows.html).
 */
export class InputValidation extends Construct {
  /** The Express state machine. */
  public readonly stateMachine: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: InputValidationProps) {
    super(scope, id);
    this.stateMachine = new sfn.StateMachine(this, 'Resource', {
      definitionBody: sfn.DefinitionBody.fromChainable(new InputChecks(this, 'Checks', { subnets: props.subnets })),
      stateMachineType: sfn.StateMachineType.EXPRESS,
      comment: 'Checks the input of a shell script pipeline run; the run calls it first and launches nothing unless it succeeds',
      // A synchronous Express execution may run 5 minutes (concepts-standard-vs-express); the checks take well under a
      // second, so anything near a minute is a fault, reported to the run as TIMED_OUT.
      timeout: Duration.minutes(1),
      tracingEnabled: true,
      // Failures only, without execution data: the run's own history holds every answer (the "Validate input" task's
      // result), and ALL would log two events per checked arg and env value, growing with the input.
      // Its failed executions go to the pipeline's log group (an Express state machine keeps no history of its own).
      logs: { destination: props.logs, level: sfn.LogLevel.ERROR, includeExecutionData: false },
    });
    acknowledge(this.stateMachine, {
      id: 'AwsSolutions-SF1',
      reason:
        'The input validation state machine logs ERROR, not ALL: every answer it gives is already in the run\'s execution history ' +
        '(the result of its "Validate input" task), and ALL would log events for each arg and env value checked, a cost that grows with the input.',
    });
    acknowledge(this.stateMachine.role.node.findChild('DefaultPolicy'), {
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Added by CDK for X-Ray tracing (xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) and CloudWatch Logs ' +
        'delivery (logs:CreateLogDelivery and related): AWS offers no resource-level permissions for these actions.',
    });
  }
}
