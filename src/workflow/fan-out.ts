import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { JobInput } from '../parts/schedule';
import { FAN_OUT_ERRORS } from '../protocol';
import { jobExecutionInput, RunJobState } from './run-job';

/**
 * Options of a fan-out: one job run per shard of a list (`ShellScriptPipeline.fanOut()`), AWS Batch's array jobs.
 */
export interface FanOutProps {
  /**
   * The input of every shard's run: the same fields as an execution's input. Values may be JSONPath into the state the
   * fan-out starts from. Each run also gets its shard: `SSP_SHARD_INDEX` (0-based), `SSP_SHARD_COUNT` and
   * `SSP_SHARD` (the list item, as is when a string, as JSON text otherwise) in the job's environment.
   */
  readonly input: JobInput;

  /**
   * The shards: a fixed list, one run per item. Give this or `shardsPath`.
   *
   * @default - none; `shardsPath` must be set
   */
  readonly shards?: string[];

  /**
   * The shards: a JSONPath to a list in the state the fan-out starts from, e.g. `$.partitions`. Give this or `shards`.
   *
   * @default - none; `shards` must be set
   */
  readonly shardsPath?: string;

  /**
   * How many shards run at once (each on its own instance). 0 means no limit.
   *
   * @default 10
   */
  readonly maxConcurrency?: number;

  /**
   * How many shards may fail before the fan-out fails. With 0, the first shard that fails fails the fan-out with that
   * shard's own error (`Job.NonZeroExit`, …) and the other runs are stopped. With N > 0, every shard runs to its end;
   * a failed shard's item in the result says `failed: true` with its `error`, and the fan-out fails with
   * `FanOut.TooManyShardsFailed` when more than N failed.
   *
   * @default 0
   */
  readonly toleratedFailureCount?: number;

  /**
   * Where the result goes in the state: `{shards: [...]}`, one item per shard in list order,
   * `{shard: {index, count, value}, executionArn, job}` for a run that succeeded (`job` is its task output). Each
   * item may hold up to about 37 KB (a 4 KB output tail and a 32 KiB result), and a state may not exceed 256 KiB: keep
   * the results of a fan-out over many shards small, or store them in S3.
   *
   * @default '$' - the result replaces the state
   */
  readonly resultPath?: string;

  /**
   * A comment on the state.
   *
   * @default - none
   */
  readonly comment?: string;
}

/** Where the fan-out keeps its own fields in the branch's state (never in the state it returns). */
const OWN = '$.sspFanOut';

/**
 * A fan-out: a Parallel state with one branch that lists the shards, runs a {@link RunJobState} per shard in an
 * (inline) Map state, and, with a tolerance, counts the failed shards. Like RunJobState it fails with the error of its
 * branch, so `addCatch`/`addRetry` match the shard's error (or `FanOut.TooManyShardsFailed`).
 *
 * A failed iteration fails an inline Map state and stops its other iterations ("If any iteration fails, the Map state
 * fails", https://docs.aws.amazon.com/step-functions/latest/dg/state-map-inline.html), and a stopped `.sync` task stops its
 * nested run (run-job.ts). Failures are tolerated with a Catch inside each iteration instead of a Distributed Map's
 * ToleratedFailureCount, which would make every shard a Map Run child execution with its own IAM and billing.
 *
 * Counting failed shards: JSONPath cannot filter-and-count safely (a path that matches nothing is an error), so every
 * item carries marks, `[0]` for a success and `[0, 1]` for a failure: `$[*].marks[*]` always matches, and it has
 * `count + failed` entries.
 */
export class FanOutState extends sfn.Parallel {
  constructor(scope: Construct, id: string, stateMachine: sfn.IStateMachine, props: FanOutProps) {
    super(scope, id, {
      comment: props.comment ?? 'Runs one job of a shell script pipeline per shard and waits for all of them',
      resultSelector: { 'shards.$': `$[0].${OWN.slice(2)}.results` },
      resultPath: props.resultPath,
    });
    const name = (what: string) => `${id}: ${what}`;
    const tolerated = props.toleratedFailureCount ?? 0;

    const list = new sfn.Pass(this, 'Shards', {
      stateName: name('shards'),
      parameters: props.shards
        ? { items: props.shards, count: props.shards.length }
        : { 'items.$': props.shardsPath!, 'count.$': `States.ArrayLength(${props.shardsPath})` },
      resultPath: OWN,
    });

    // The nested input: the fields the props set, read from the iteration's `job`, and the shard.
    const jobFields = jobExecutionInput(props.input);
    const nestedInput: Record<string, unknown> = { 'shard.$': '$.shard' };
    for (const field of Object.keys(jobFields)) nestedInput[`${field}.$`] = `$.job.${field}`;
    const run = new RunJobState(this, name('shard'), stateMachine, {
      input: nestedInput,
      withShard: true,
      extraResult: tolerated > 0 ? { marks: [0] } : undefined,
      comment: 'One shard: runs the job with this shard and waits for it',
    });
    if (tolerated > 0) {
      run.addCatch(
        new sfn.Pass(this, 'ShardFailed', {
          stateName: name('shard failed'),
          parameters: { 'shard.$': '$.shard', 'failed': true, 'error.$': '$.error', 'marks': [0, 1] },
        }),
        { errors: [sfn.Errors.ALL], resultPath: '$.error' },
      );
    }

    const map = new sfn.Map(this, 'Map', {
      stateName: name('each shard'),
      itemsPath: `${OWN}.items`,
      maxConcurrency: props.maxConcurrency ?? 10,
      itemSelector: {
        shard: { 'index.$': '$$.Map.Item.Index', 'count.$': `${OWN}.count`, 'value.$': '$$.Map.Item.Value' },
        job: jobFields,
      },
      resultPath: `${OWN}.results`,
    });
    map.itemProcessor(run);

    if (tolerated === 0) {
      this.branch(list.next(map));
      return;
    }
    const done = new sfn.Succeed(this, 'Done', { stateName: name('shards done') });
    const count = new sfn.Pass(this, 'CountFailures', {
      stateName: name('count failed shards'),
      parameters: {
        'marks.$': `States.ArrayLength(${OWN}.results[*].marks[*])`,
        'limit.$': `States.MathAdd(${OWN}.count, ${tolerated})`,
      },
      resultPath: `${OWN}.check`,
    });
    const tooMany = new sfn.Fail(this, 'TooMany', {
      stateName: name('too many shards failed'),
      error: FAN_OUT_ERRORS.TOO_MANY_SHARDS_FAILED,
      cause: `More than ${tolerated} shard(s) failed; the fan-out's result lists each shard's error`,
    });
    this.branch(
      list.next(map).next(
        new sfn.Choice(this, 'AnyShards', { stateName: name('any shards?') })
          .when(sfn.Condition.numberEquals(`${OWN}.count`, 0), done)
          .otherwise(
            count.next(
              new sfn.Choice(this, 'TooManyFailed', { stateName: name('too many failed?') })
                .when(sfn.Condition.numberGreaterThanJsonPath(`${OWN}.check.marks`, `${OWN}.check.limit`), tooMany)
                .otherwise(done),
            ),
          ),
      ),
    );
  }
}

/** What is wrong with fan-out props (synth-time checks; `where` names the fan-out). */
export function fanOutProblems(props: FanOutProps, where: string): string[] {
  const problems: string[] = [];
  if ((props.shards === undefined) === (props.shardsPath === undefined)) {
    problems.push(`${where} needs exactly one of 'shards' (a fixed list) or 'shardsPath' (a JSONPath to a list in the state)`);
  }
  if (props.shardsPath !== undefined && !props.shardsPath.startsWith('$')) {
    problems.push(`${where}: 'shardsPath' must be a JSONPath starting with '$', got '${props.shardsPath}'`);
  }
  const n = (v: number | undefined) => v === undefined || (Number.isInteger(v) && v >= 0);
  if (!n(props.maxConcurrency)) problems.push(`${where}: 'maxConcurrency' must be a whole number >= 0, got ${props.maxConcurrency}`);
  if (!n(props.toleratedFailureCount)) {
    problems.push(`${where}: 'toleratedFailureCount' must be a whole number >= 0, got ${props.toleratedFailureCount}`);
  }
  return problems;
}
