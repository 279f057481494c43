import { Duration, Fn } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { RUNS_PREFIX } from '../protocol';
import { Attempts, PauseStep } from './attempts';
import { ValidateInput } from './input';
import { Launch, LaunchSpec, USER_DATA_SUBSTITUTION } from './launch';
import { Report } from './report';
import { INSTANCE_ID_PATH } from './run-state';
import { JobSlots } from './semaphore';
import { pipelineStateMachine, stateMachineLogGroup } from './state-machine';
import { InputValidation } from './validation';

export interface RunStateMachineProps {
  readonly pipelineId: string;
  readonly bucket: s3.IBucket;
  readonly topic: sns.ITopic;
  /** The instance role's RoleId: with the instance ID it names the attempt's log folder. */
  readonly instanceRoleId: string;
  readonly launch: LaunchSpec;
  readonly pause: PauseStep;
  /** The bootstrap, handed to every launch as its user data. */
  readonly userData: string;
  readonly jobTimeout: Duration;
  readonly heartbeatTimeout: Duration;
  readonly maxAttempts: number;
  readonly retryDelay: Duration;
  /** The execution timeout; undefined for none. */
  readonly timeout?: Duration;
  readonly notifyOnSuccess: boolean;
  readonly notifyOnFailure: boolean;
  /** A step after each attempt's instance is terminated (Attempts' `afterJob`): with `jobLogRetention`, the log forwarder. */
  readonly afterJob?: (next: sfn.IChainable) => sfn.IChainable;
  /** Where the run's staged outputs are, as a States.Format expression; only with `staging.outputPrefix`. */
  readonly outputLocation?: string;
  /** With `maxConcurrentJobs`: the job-slot semaphore, and the scope its states are created in. */
  readonly concurrency?: { slots: JobSlots; scope: Construct };
}

/**
 * The run state machine, assembled from its fragments:
 *
 *   ValidateInput: Validate input (calls the InputValidation Express state machine) → Input valid? → Prepare run
 *   (Input.* errors → report.onFailure, nothing launched)
 *   → Launch: Script or userInput? → [Check script exists] → Spot or On-Demand? → Launch (Spot) instance
 *   → Attempts: Pause for Job Completion → Terminate instance → Did the job succeed? → report / Try again? …
 *
 * Also creates the log group the pipeline's three state machines log to (`StateMachineLogs`, named `/aws/vendedlogs/states/<pipelineId>`).
 */
export class RunStateMachine {
  public readonly stateMachine: sfn.StateMachine;
  /** The state transitions of the run and cleanup state machines and the validation's failures, kept 3 months. */
  public readonly logGroup: logs.LogGroup;
  /** The Express state machine that checks every execution's input, called by "Validate input". */
  public readonly validation: InputValidation;

  constructor(pipeline: Construct, props: RunStateMachineProps) {
    // pipeline/runs/<RoleId>:<InstanceId>/<execution>/: the instance's own folder, then the run's (see RUNS_PREFIX).
    const logUrl = sfn.JsonPath.format(
      `s3://${props.bucket.bucketName}/${RUNS_PREFIX}${props.instanceRoleId}:{}/{}/output.log`,
      sfn.JsonPath.stringAt(INSTANCE_ID_PATH),
      sfn.JsonPath.executionName,
    );
    const report = new Report(pipeline, 'Report', { ...props, logUrl });
    this.logGroup = stateMachineLogGroup(pipeline, 'StateMachineLogs', props.pipelineId);
    this.validation = new InputValidation(pipeline, 'InputValidation', { subnets: props.launch.subnetIds.length, logs: this.logGroup });
    const input = new ValidateInput(pipeline, 'Input', {
      validation: this.validation.stateMachine,
      subnetIds: props.launch.subnetIds,
      onInvalid: report.onFailure,
    });
    // With maxConcurrentJobs, every end after the slot is taken gives it back first (bad input never takes one).
    const c = props.concurrency;
    const ends = c ? c.slots.ends(c.scope, report) : report;
    const launch = new Launch(pipeline, 'Launch', {
      spec: props.launch,
      bucket: props.bucket,
      maxAttempts: props.maxAttempts,
      jobTimeout: props.jobTimeout,
      onScriptNotFound: ends.onFailure,
    });
    const attempts = new Attempts(pipeline, 'Attempts', { ...props, subnets: props.launch.subnetIds.length, launch, report: ends });
    const validated = c ? input.next(c.slots.acquire(c.scope, { onFailure: ends.onFailure, noSlot: report.onFailure })) : input;

    this.stateMachine = pipelineStateMachine(pipeline, 'StateMachine', {
      definition: validated.next(launch).next(attempts),
      // CloudFormation substitutes the encoded bootstrap after resolving it, so its text reaches EC2 unescaped.
      definitionSubstitutions: { [USER_DATA_SUBSTITUTION]: Fn.base64(props.userData) },
      comment: 'Runs a shell script on a fresh EC2 instance, then terminates it and notifies',
      timeout: props.timeout,
      logs: this.logGroup,
    });
  }
}
