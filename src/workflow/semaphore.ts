import { Duration, Stack, Token } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { CONCURRENCY_ERRORS } from '../protocol';

/**
 * The job-slot semaphore of `maxConcurrentJobs`: the standard Step Functions semaphore of the AWS sample "Controlling
 * concurrency in distributed systems using AWS Step Functions"
 * (https://aws.amazon.com/blogs/compute/controlling-concurrency-in-distributed-systems-using-aws-step-functions/,
 * code: aws-samples/aws-stepfunctions-examples sam/app-control-concurrency-with-dynamodb/statemachines/dynamodb-semaphore.asl.json):
 * one DynamoDB item holds a counter and one attribute per holder execution; a conditional UpdateItem takes a slot only
 * while the counter is under the limit and the execution holds none, and a conditional UpdateItem gives it back only
 * while the holder attribute exists, so a second release never drives the counter down twice.
 *
 * Differences from the sample: the first acquire creates the item (`if_not_exists`), so there is no initialization
 * step; every holder entry records its lease (`since`, the execution's start, and `leaseSeconds`, the run's execution
 * timeout); and a run that keeps finding the slots taken checks, at its FIRST_SWEEP-th wait and every SWEEP_EVERY
 * after, whether each holder's execution is still RUNNING (DescribeExecution) and reclaims the slot of one that is not. Step Functions ends every
 * execution at its execution timeout, so a holder never outlives `since + leaseSeconds`; JSONPath has no date
 * arithmetic to compare that sum with the clock, and asking Step Functions frees a leaked slot sooner.
 */

/** The states the semaphore adds to the run state machine (only with `maxConcurrentJobs`). Never rename one. */
export const SLOT_STATES = {
  QUEUE: 'Queue for a job slot',
  ACQUIRE: 'Acquire a job slot',
  READ_HOLDERS: 'Read the job slot holders',
  COUNT_WAIT: 'Count the wait for a slot',
  HAS_SLOT: 'Holds a job slot?',
  ALREADY_HELD: 'Job slot already held',
  WAIT: 'Wait for a job slot',
  NO_SLOT: 'No job slot',
  LIST_HOLDERS: 'List the job slot holders',
  SWEEP: 'Reclaim slots of ended runs',
  HOLDER_STATUS: 'Is the holder running?',
  HOLDER_RUNNING: 'Holder still running?',
  HOLDER_ALIVE: 'Holder keeps its slot',
  RECLAIM: 'Reclaim the slot',
  RECLAIMED: 'Slot reclaimed',
  SWEPT: 'Count the sweep',
  RELEASE_SUCCESS: 'Release the job slot',
  RELEASE_FAILURE: 'Release the job slot after failure',
} as const;

/** The state the semaphore adds to the cleanup state machine. */
export const CLEANUP_SLOT_STATES = {
  RELEASE: 'Release the run\'s job slot',
} as const;

/** The table's partition key, and the one item every slot lives in (the IAM policies allow only this key). */
export const SLOT_TABLE_KEY = 'pk';
export const SLOT_ITEM_KEY = 'job-slots';
/** The item's counter attribute. */
export const SLOT_COUNT_ATTRIBUTE = 'held';

/**
 * The waits for a slot (caps in seconds; each wait is random between half the cap and the cap, so waiting runs do not
 * all try again at once). The last cap repeats. Short first, for a slot that frees in seconds.
 */
export const SLOT_WAIT_SECONDS = [2, 4, 8, 16, 32, 60] as const;

/**
 * A waiting run checks whether the holders' executions still run (DescribeExecution each) at its FIRST_SWEEP-th wait
 * (after about a minute: 2 + 4 + 8 + 16 + 32 s), then every SWEEP_EVERY waits (about 20 minutes at the 60-s cap). A
 * leaked slot is rare (the run's own release and the cleanup both failed), and each check costs about 4 state
 * transitions and one DescribeExecution per holder: 200 runs waiting on 10 slots ask under 2 times a second.
 */
export const SWEEP_EVERY = 20;
export const FIRST_SWEEP = 5;

/**
 * The error names DynamoDB's failures have in a Task of the optimized integration (`arn:aws:states:::dynamodb:*`):
 * `DynamoDB.` and the DynamoDB error code, e.g. `DynamoDB.ConditionalCheckFailedException` for a failed condition
 * (test/fixtures/aws/ddb-conditional-check-failed-sfn.json: AWS's own semaphore sample catches exactly that name).
 */
export const CONDITIONAL_CHECK_FAILED = 'DynamoDB.ConditionalCheckFailedException';

/**
 * The DescribeExecution error of an execution Step Functions no longer knows (its history is kept 90 days after it
 * closed), through the aws-sdk integration: `Sfn.` + the exception name. Both spellings are matched because only the
 * naming rule is documented (test/fixtures/aws/ec2-error-naming-sfn-sdk-integration.json), not this capture.
 */
export const EXECUTION_DOES_NOT_EXIST = ['Sfn.ExecutionDoesNotExistException', 'Sfn.ExecutionDoesNotExist'] as const;

/** How a DynamoDB call of the semaphore is retried: never on a failed condition, which is an answer, not a fault. */
const DDB_RETRIES: sfn.RetryProps[] = [
  { errors: [CONDITIONAL_CHECK_FAILED], maxAttempts: 0 },
  {
    errors: [sfn.Errors.ALL],
    interval: Duration.seconds(1),
    backoffRate: 2,
    maxAttempts: 6,
    maxDelay: Duration.seconds(20),
    jitterStrategy: sfn.JitterType.FULL,
  },
];

export interface JobSlotsProps {
  readonly table: dynamodb.ITable;
  /** The number of slots (`maxConcurrentJobs`). */
  readonly limit: number;
  /** How long a run may wait for a slot: the job's own timeout. */
  readonly maxWait: Duration;
  /** A holder's lease: the run's execution timeout (recorded in its entry as `leaseSeconds`). */
  readonly lease?: Duration;
}

/** The run's way to its ends, as Report gives them. */
export interface RunEnds {
  readonly onSuccess: sfn.IChainable;
  readonly onFailure: sfn.IChainable;
}

/**
 * The semaphore's states: acquiring before the launch, releasing before the run's ends and in the cleanup.
 * Every state is a DynamoDB or Step Functions call without IAM of its own: the Concurrency part grants exactly these
 * calls (one item of one table; DescribeExecution on the run's executions).
 */
export class JobSlots {
  constructor(private readonly props: JobSlotsProps) {}

  /**
   * The run's ends with the slot given back first: the instance is already terminated on every path that reaches
   * them, so the next run cannot start a job while this one still has an instance. A release never changes how the
   * run ends.
   */
  public ends(scope: Construct, report: RunEnds): RunEnds {
    return {
      onSuccess: this.release(scope, SLOT_STATES.RELEASE_SUCCESS, '$$.Execution.Id', report.onSuccess),
      onFailure: this.release(scope, SLOT_STATES.RELEASE_FAILURE, '$$.Execution.Id', report.onFailure),
    };
  }

  /**
   * Takes a slot, waiting for one if all are held. `onFailure` (with the slot given back) receives a DynamoDB failure
   * that retries did not fix; `noSlot` (the run holds nothing) receives `Concurrency.NoSlot` in `$.error`.
   */
  public acquire(scope: Construct, props: { onFailure: sfn.IChainable; noSlot: sfn.IChainable }): AcquireSlot {
    return new AcquireSlot(scope, 'AcquireSlot', { ...this.props, ...props, slots: this });
  }

  /** In the cleanup state machine: gives back the slot of the run in the event (`$.detail.executionArn`), if it holds one. */
  public cleanupRelease(scope: Construct): (next: sfn.IChainable) => sfn.IChainable {
    return (next) => this.release(scope, CLEANUP_SLOT_STATES.RELEASE, '$.detail.executionArn', next);
  }

  /**
   * The conditional release of `holderPath`'s slot, then `next`: a holder that holds none (released already) changes
   * nothing, and a release that still fails after its retries goes on too (the sweep of a waiting run reclaims it).
   */
  public release(scope: Construct, id: string, holderPath: string, next: sfn.IChainable, comment?: string): sfn.IChainable {
    const state = this.updateItem(scope, id, {
      comment: comment ?? 'Gives the slot back if this execution holds one (a second release finds no holder and changes nothing)',
      UpdateExpression: 'SET #held = #held - :one REMOVE #holder',
      ConditionExpression: 'attribute_exists(#holder)',
      ExpressionAttributeNames: { '#held': SLOT_COUNT_ATTRIBUTE, '#holder.$': holderPath },
      ExpressionAttributeValues: { ':one': { N: '1' } },
    });
    state.addCatch(next, { errors: [sfn.Errors.ALL], resultPath: '$.slotReleaseError' });
    return state.next(next);
  }

  /** A conditional UpdateItem of the slots item; it never fails the state machine (see `release` and `acquire`). */
  public updateItem(scope: Construct, id: string, params: Record<string, unknown> & { comment: string }): sfn.CustomState {
    const { comment, ...parameters } = params;
    const state = new sfn.CustomState(scope, id, {
      stateJson: {
        Type: 'Task',
        Comment: comment,
        Resource: `arn:${Stack.of(scope).partition}:states:::dynamodb:updateItem`,
        Parameters: { TableName: this.props.table.tableName, Key: this.key(), ...parameters },
        ResultPath: null,
      },
    });
    for (const retry of DDB_RETRIES) state.addRetry(retry);
    return state;
  }

  /** The key of the one slots item. */
  public key(): Record<string, unknown> {
    return { [SLOT_TABLE_KEY]: { S: SLOT_ITEM_KEY } };
  }

  /** The table's name (for GetItem). */
  public get tableName(): string {
    return this.props.table.tableName;
  }
}

interface AcquireSlotProps extends JobSlotsProps {
  readonly slots: JobSlots;
  readonly onFailure: sfn.IChainable;
  readonly noSlot: sfn.IChainable;
}

/** The strings of the slots item read by "Read the job slot holders" (see "Count the wait for a slot"). */
const TOKENS = 'States.StringSplit(States.JsonToString($.slotHolders.Item), \'"\')';

/** Where a waiting run keeps its count: `Waits` (index of the next wait cap), `Waited` (seconds), `SinceSweep`, `Delay`. */
const WAIT = '$.slotWait';

/**
 * Queue for a job slot → Acquire a job slot (conditional UpdateItem) → the launch. When the condition fails, the run
 * reads the holders: if it is one of them (a retried acquire whose first try went through), it goes on; otherwise it
 * waits (random between half and all of SLOT_WAIT_SECONDS, the last cap repeating) and tries again, until its waits
 * would pass `maxWait`: then `Concurrency.NoSlot`. At its FIRST_SWEEP-th wait and every SWEEP_EVERY after, it first
 * reclaims the slots of holders whose executions no longer run.
 */
export class AcquireSlot extends sfn.StateMachineFragment {
  public readonly startState: sfn.State;
  public readonly endStates: sfn.INextable[];

  constructor(scope: Construct, id: string, props: AcquireSlotProps) {
    super(scope, id);
    const S = SLOT_STATES;
    const caps = SLOT_WAIT_SECONDS;
    const partition = Stack.of(this).partition;
    const limit = Token.isUnresolved(props.limit) ? Token.asString(props.limit) : String(props.limit);
    const lease = props.lease && !props.lease.isUnresolved() ? String(props.lease.toSeconds()) : '0';

    const queue = new sfn.Pass(this, S.QUEUE, {
      comment: `At most ${limit} jobs of this pipeline run at once (maxConcurrentJobs)`,
      result: sfn.Result.fromObject({ Waits: 0, Waited: 0, SinceSweep: SWEEP_EVERY - FIRST_SWEEP }),
      resultPath: WAIT,
    });
    const acquire = props.slots.updateItem(this, S.ACQUIRE, {
      comment: 'Takes a slot while fewer than the limit are held and this execution holds none; records its lease',
      UpdateExpression: 'SET #held = if_not_exists(#held, :zero) + :one, #holder = :lease',
      ConditionExpression: '(attribute_not_exists(#held) OR #held < :limit) AND attribute_not_exists(#holder)',
      ExpressionAttributeNames: { '#held': SLOT_COUNT_ATTRIBUTE, '#holder.$': '$$.Execution.Id' },
      ExpressionAttributeValues: {
        ':zero': { N: '0' },
        ':one': { N: '1' },
        ':limit': { N: limit },
        ':lease': { M: { arn: { 'S.$': '$$.Execution.Id' }, since: { 'S.$': '$$.Execution.StartTime' }, leaseSeconds: { N: lease } } },
      },
    });
    const readHolders = new sfn.CustomState(this, S.READ_HOLDERS, {
      stateJson: {
        Type: 'Task',
        Comment: 'Every holder entry names its execution: is this one of them?',
        Resource: `arn:${partition}:states:::dynamodb:getItem`,
        Parameters: { TableName: props.slots.tableName, Key: props.slots.key(), ConsistentRead: true },
        // The raw item: a path into it that matches nothing (the holders all left since the acquire) would fail the state.
        ResultSelector: { 'Item.$': '$.Item' },
        ResultPath: '$.slotHolders',
      },
    });
    readHolders.addRetry(DDB_RETRIES[1]);
    const table = (values: readonly number[]) => `States.Array(${values.join(', ')})`;
    const countWait = new sfn.Pass(this, S.COUNT_WAIT, {
      parameters: {
        // The item's JSON text split at its quotes holds every name and string in it: this execution's ARN is there
        // only as a holder's name and `arn`, and "arn" only if some execution holds a slot.
        'Mine.$': `States.ArrayContains(${TOKENS}, $$.Execution.Id)`,
        'Any.$': `States.ArrayContains(${TOKENS}, 'arn')`,
        'Waits.$': `States.ArrayGetItem(${table(caps.map((_, i) => Math.min(i + 1, caps.length - 1)))}, ${WAIT}.Waits)`,
        'Waited.$': `States.MathAdd(${WAIT}.Waited, States.ArrayGetItem(${table(caps)}, ${WAIT}.Waits))`,
        'SinceSweep.$': `States.MathAdd(${WAIT}.SinceSweep, 1)`,
        'Delay.$': `States.MathRandom(States.ArrayGetItem(${table(caps.map((c) => Math.ceil(c / 2)))}, ${WAIT}.Waits), States.ArrayGetItem(${table(caps)}, ${WAIT}.Waits))`,
      },
      resultPath: WAIT,
    });
    const alreadyHeld = new sfn.Pass(this, S.ALREADY_HELD, { comment: 'An earlier try of the acquire went through: the slot is this run\'s' });
    const wait = new sfn.Wait(this, S.WAIT, { time: sfn.WaitTime.secondsPath(`${WAIT}.Delay`) }).next(acquire);
    const noSlot = new sfn.Pass(this, S.NO_SLOT, {
      parameters: {
        Error: CONCURRENCY_ERRORS.NO_SLOT,
        Cause: `All ${limit} job slots (maxConcurrentJobs) stayed taken for as long as the job timeout (${props.maxWait.toSeconds()} s) allows a run to wait; nothing was launched`,
      },
      resultPath: '$.error',
    }).next(props.noSlot);
    // Parameters, not a Result of 0, which some interpreters take for "no Result".
    const swept = new sfn.Pass(this, S.SWEPT, {
      parameters: { 'Mine': false, 'Any': true, 'Waits.$': `${WAIT}.Waits`, 'Waited.$': `${WAIT}.Waited`, 'SinceSweep': 0, 'Delay.$': `${WAIT}.Delay` },
      resultPath: WAIT,
    }).next(wait);
    const sweep = new SweepEndedHolders(this, S.SWEEP, { slots: props.slots, partition });
    sweep.addCatch(swept, { errors: [sfn.Errors.ALL], resultPath: '$.slotSweepError' });
    sweep.next(swept);
    const listHolders = new sfn.Pass(this, S.LIST_HOLDERS, {
      parameters: { 'holders.$': '$.slotHolders.Item..arn.S' },
      resultPath: '$.slotHolders',
    }).next(sweep);

    const maxWait = props.maxWait.toSeconds();
    readHolders.next(countWait).next(
      new sfn.Choice(this, S.HAS_SLOT)
        .when(sfn.Condition.booleanEquals(`${WAIT}.Mine`, true), alreadyHeld)
        .when(sfn.Condition.numberGreaterThan(`${WAIT}.Waited`, maxWait), noSlot)
        .when(
          sfn.Condition.and(sfn.Condition.numberGreaterThanEquals(`${WAIT}.SinceSweep`, SWEEP_EVERY), sfn.Condition.booleanEquals(`${WAIT}.Any`, true)),
          listHolders,
        )
        .otherwise(wait),
    );
    acquire.addCatch(readHolders, { errors: [CONDITIONAL_CHECK_FAILED], resultPath: '$.slotError' });
    // Still failing after its retries (throttled for a minute, the table missing): the run fails with DynamoDB's
    // error; the release on that path is conditional, so it is right whether or not the acquire went through.
    acquire.addCatch(props.onFailure, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
    readHolders.addCatch(props.onFailure, { errors: [sfn.Errors.ALL], resultPath: '$.error' });

    this.startState = queue;
    queue.next(acquire);
    this.endStates = [acquire, alreadyHeld];
  }
}

/**
 * A Map over the holders (`$.slotHolders.holders`, execution ARNs): DescribeExecution on each, and the conditional
 * release of a holder whose execution is no longer RUNNING or no longer exists. Any other answer keeps the slot.
 */
class SweepEndedHolders extends sfn.Map {
  constructor(scope: Construct, id: string, props: { slots: JobSlots; partition: string }) {
    super(scope, id, {
      comment: 'A slot whose execution has ended (its own release and the cleanup both failed) goes back',
      itemsPath: '$.slotHolders.holders',
      itemSelector: { 'arn.$': '$$.Map.Item.Value' },
      maxConcurrency: 5,
      resultPath: sfn.JsonPath.DISCARD,
    });
    const S = SLOT_STATES;
    const reclaimed = new sfn.Pass(this, S.RECLAIMED);
    const reclaim = props.slots.release(this, S.RECLAIM, '$.arn', reclaimed, 'Gives back the slot of an execution that has ended, unless it was given back already');
    const alive = new sfn.Pass(this, S.HOLDER_ALIVE);
    const status = new sfn.CustomState(this, S.HOLDER_STATUS, {
      stateJson: {
        Type: 'Task',
        Resource: `arn:${props.partition}:states:::aws-sdk:sfn:describeExecution`,
        Parameters: { 'ExecutionArn.$': '$.arn' },
        ResultSelector: { 'Status.$': '$.Status' },
        ResultPath: '$.holder',
      },
    });
    status.addRetry({ errors: ['Sfn.SfnException', 'Sfn.ThrottlingException'], interval: Duration.seconds(1), backoffRate: 2, maxAttempts: 3, jitterStrategy: sfn.JitterType.FULL });
    status.addCatch(reclaim, { errors: [...EXECUTION_DOES_NOT_EXIST], resultPath: '$.holderError' });
    status.addCatch(alive, { errors: [sfn.Errors.ALL], resultPath: '$.holderError' });
    status.next(
      new sfn.Choice(this, S.HOLDER_RUNNING).when(sfn.Condition.stringEquals('$.holder.Status', 'RUNNING'), alive).otherwise(reclaim),
    );
    this.itemProcessor(status);
  }
}
