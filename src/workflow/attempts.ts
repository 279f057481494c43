import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { Launch } from './launch';
import { Report } from './report';
import { attemptInput, INSTANCE_ID_PATH, taskFields } from './run-state';
import { STATES, TERMINATE_FAILED_ERROR } from './states';
import { TerminateInstances } from './terminate';

/** What "Pause for Job Completion" is built from. */
export interface PauseInput {
  /** What to hand the instance (the protocol's TaskFields, from the run state). */
  readonly taskFields: ReturnType<typeof taskFields>;
  /** The JSONPath of this attempt's instance ID. */
  readonly instanceId: string;
  /** The state's HeartbeatSeconds. */
  readonly heartbeatTimeout: Duration;
  /** The state's TimeoutSeconds. */
  readonly jobTimeout: Duration;
}

/**
 * How a run hands its task to its instance and waits for the answer: the task hand-off (task token or activity).
 */
export interface PauseStep {
  /** "Pause for Job Completion" (STATES.PAUSE), in `scope`, with the job's result at `$.job`. */
  pauseState(scope: Construct, input: PauseInput): sfn.TaskStateBase;
}

export interface AttemptsProps {
  readonly pause: PauseStep;
  readonly pipelineId: string;
  readonly jobTimeout: Duration;
  readonly heartbeatTimeout: Duration;
  readonly maxAttempts: number;
  readonly retryDelay: Duration;
  /** How many subnets the launch may use (`$.subnets`). */
  readonly subnets: number;
  /** The launch this attempt follows: a new attempt re-enters it, and a launch that gave up is a failed attempt. */
  readonly launch: Launch;
  /** The run's ends (Report's, or with maxConcurrentJobs the same after the job slot is given back). */
  readonly report: Pick<Report, 'onSuccess' | 'onFailure'>;
  /**
   * A step between an attempt's Terminate instance and Did the job succeed? (e.g. forwarding its log), given the state
   * to go on to; it must go there whatever happens to it, and leave `$.error` alone.
   */
  readonly afterJob?: (next: sfn.IChainable) => sfn.IChainable;
}

/**
 * One attempt after its launch, and the decision to try again:
 *
 *   Pause for Job Completion → Terminate instance → Did the job succeed?
 *       yes → report.onSuccess
 *       no  → Try again? → Wait before the next attempt → Next attempt → launch.chooseMarket …
 *                        → report.onFailure
 *
 *   launch.gaveUp → Try again? …      launch.refused → report.onFailure
 *
 * Every failure after a launch goes through Terminate instance first, so no path leaves an instance running; a failed
 * attempt has terminated its instance (or never had one), and the next attempt launches a fresh one. An instance that
 * could not be terminated ends the run: starting another would only add to the problem.
 */
export class Attempts extends sfn.StateMachineFragment {
  public readonly startState: sfn.State;
  /** None: every path ends in the report or loops back to the launch. */
  public readonly endStates: sfn.INextable[] = [];

  constructor(scope: Construct, id: string, props: AttemptsProps) {
    super(scope, id);
    const pause = props.pause.pauseState(this, {
      taskFields: taskFields(props.heartbeatTimeout.toSeconds()),
      instanceId: INSTANCE_ID_PATH,
      heartbeatTimeout: props.heartbeatTimeout,
      jobTimeout: props.jobTimeout,
    });
    this.startState = pause;

    const terminate = new TerminateInstances(this, STATES.TERMINATE, { instanceIds: `States.Array(${INSTANCE_ID_PATH})`, pipelineId: props.pipelineId });
    const terminateFailed = new sfn.Pass(this, STATES.TERMINATE_FAILED, {
      parameters: {
        Error: TERMINATE_FAILED_ERROR,
        Cause: sfn.JsonPath.format(
          'Instance {} could not be terminated ({}); it powers itself off at its hard cap. Check it in the EC2 console.',
          sfn.JsonPath.stringAt(INSTANCE_ID_PATH),
          sfn.JsonPath.stringAt('$.terminateError.Cause'),
        ),
      },
      resultPath: '$.error',
    });
    terminate.addCatch(terminateFailed, { errors: [sfn.Errors.ALL], resultPath: '$.terminateError' });

    let tryAgain: sfn.IChainable = props.report.onFailure;
    if (props.maxAttempts > 1) {
      const nextAttempt = new sfn.Pass(this, STATES.NEXT_ATTEMPT, {
        comment: 'Keeps the input; a fresh instance, in a random subnet; remembers why the previous attempt failed',
        parameters: { ...attemptInput('States.MathAdd($.attempt, 1)', props.subnets), 'previousError.$': '$.error' },
      }).next(props.launch.chooseMarket);
      tryAgain = new sfn.Choice(this, STATES.TRY_AGAIN)
        .when(
          sfn.Condition.and(
            sfn.Condition.numberLessThan('$.attempt', props.maxAttempts),
            sfn.Condition.not(sfn.Condition.stringEquals('$.error.Error', TERMINATE_FAILED_ERROR)),
          ),
          new sfn.Wait(this, STATES.WAIT_BEFORE_RETRY, { time: sfn.WaitTime.duration(props.retryDelay) }).next(nextAttempt),
        )
        .otherwise(props.report.onFailure);
    }
    props.launch.gaveUp.next(tryAgain);
    // EC2 refused the launch for a reason another attempt cannot fix: the run fails now, with one notification.
    props.launch.refused.next(props.report.onFailure);
    terminateFailed.next(tryAgain);

    const didSucceed = new sfn.Choice(this, STATES.DID_JOB_SUCCEED)
      .when(sfn.Condition.isPresent('$.error'), tryAgain)
      .otherwise(props.report.onSuccess);
    pause.addCatch(terminate, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
    pause.next(terminate);
    terminate.next(props.afterJob ? props.afterJob(didSucceed) : didSucceed);
  }
}
