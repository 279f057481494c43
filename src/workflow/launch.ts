import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { IAcknowledgedState, NagAcknowledgement, wildcardResource } from '../nag';
import { INPUT_ERRORS, LAUNCH_ERRORS } from '../protocol';
import { CAPACITY_WAIT_SECONDS, LAUNCH_FAILURES, LaunchFailureKind, RETRY_BACKOFF_SECONDS, UNKNOWN_LAUNCH_FAILURE } from './launch-failures';
import { STATES } from './states';

export { CAPACITY_WAIT_SECONDS, LAUNCH_FAILURES, RETRY_BACKOFF_SECONDS, UNKNOWN_LAUNCH_FAILURE } from './launch-failures';
export type { LaunchFailureKind } from './launch-failures';

/** The definition substitution that holds the base64 user data (see run.ts). */
export const USER_DATA_SUBSTITUTION = 'UserData';

/**
 * What the definition holds in place of the base64 user data. CloudFormation substitutes it after resolving the
 * user data, so its text reaches EC2 unescaped (a CloudFormation intrinsic inside the definition string would be JSON-escaped).
 */
export const USER_DATA_PLACEHOLDER = `\${${USER_DATA_SUBSTITUTION}}`;

/** The values of one launch that only the run knows. */
export interface LaunchValues {
  /** A Spot launch. */
  readonly spot: boolean;
  /** The user data (a placeholder the definition substitutes). */
  readonly userData: string;
  /** The idempotency token of this launch, as a JSONPath. */
  readonly clientToken: string;
  /** The subnet of this launch, as a JSONPath or intrinsic. */
  readonly subnetId: string;
}

/**
 * The instance a run launches, as the instance part describes it: the RunInstances request and the IAM it needs.
 */
export interface LaunchSpec {
  /** Launch On-Demand instances (alone, or on the last attempt next to Spot). */
  readonly onDemand: boolean;
  /** Launch Spot instances (with `onDemand`, on every attempt but the last). */
  readonly spot: boolean;
  /** The subnets to launch in (each attempt starts in a random one, then tries the others in turn). */
  readonly subnetIds: string[];
  /** The resources of the RunInstances statement. */
  readonly iamResources: string[];
  /** The RunInstances parameters of one launch. */
  parameters(values: LaunchValues): Record<string, unknown>;
  /** Further statements a launch needs (`spot`: a Spot launch). */
  additionalStatements(spot: boolean): iam.PolicyStatement[];
  /** Why the wildcards in those statements are by design. */
  nagAcknowledgements(scope: Construct): NagAcknowledgement[];
}

export interface LaunchProps {
  readonly spec: LaunchSpec;
  /** The job bucket, where the execution's script must exist. */
  readonly bucket: s3.IBucket;
  readonly maxAttempts: number;
  /** The job's own timeout: also how long one attempt may wait for capacity or quota before it fails. */
  readonly jobTimeout: Duration;
  /** Where a run goes when its script is not in the bucket (with `$.error` = Input.ScriptNotFound). */
  readonly onScriptNotFound: sfn.IChainable;
}

/** The state path of the launch's bookkeeping (see run-state.ts). */
const LAUNCH = '$.instance';
/** Where a failed launch's `{Error, Cause}` is kept while the launch decides what to do. */
const LAUNCH_ERROR_CAUSE = '$.launchError.Cause';

/**
 * Checks that the script exists (before paying for an instance), then launches the attempt's instance: On-Demand,
 * Spot, or Spot with the last attempt On-Demand. Each attempt starts in a random subnet (`attemptLaunch`), so the
 * first launches of many runs spread over the subnets. A failed launch is handled by what EC2 said (`LAUNCH_FAILURES`):
 * retried in the same subnet after a back-off with full jitter (same client token), tried in the next subnet (a new
 * client token, each subnet once per round), waited out for as long as the job's own timeout allows, or refused.
 *
 * Ends in the launch task (whose result is the instance ID). A launch that could not succeed leaves through `gaveUp`
 * (the attempt failed: `$.error` is EC2's error) or `refused` (the run fails: `$.error` is `Launch.Refused`). A fresh
 * attempt re-enters at `chooseMarket` with `attemptLaunch()` as its `$.instance` (run-state.ts `attemptInput`).
 *
 * `$.instance` while launching: `InstanceId` ("none"), `ClientToken`, `SubnetIndex` (in `$.subnets`), `Tried` (subnets
 * tried in this round), `Retries` (in this subnet), `Waits` (waits for capacity so far, stops counting at the last
 * cap), `Waited` (seconds of waiting the attempt may have used, counting the next wait's cap) and `Delay` (the next
 * wait). A successful launch replaces it with `{InstanceId}`.
 */
export class Launch extends sfn.StateMachineFragment {
  public readonly startState: sfn.State;
  public readonly endStates: sfn.INextable[];
  /** Where a new attempt starts: the choice of market (or the only launch). */
  public readonly chooseMarket: sfn.IChainable;
  /** "Launch gave up": the attempt failed to launch; chain the attempt's failure handling to it. */
  public readonly gaveUp: sfn.Pass;
  /** "Launch refused": EC2 refused the request for good; chain the run's failure to it (no other attempt). */
  public readonly refused: sfn.Pass;

  constructor(scope: Construct, id: string, props: LaunchProps) {
    super(scope, id);
    const { spec } = props;
    const subnets = spec.subnetIds.length;
    const launch = spec.onDemand ? new LaunchInstance(this, STATES.LAUNCH, { spec, spot: false }) : undefined;
    const launchSpot = spec.spot ? new LaunchInstance(this, STATES.LAUNCH_SPOT, { spec, spot: true }) : undefined;
    this.chooseMarket =
      launch && launchSpot
        ? new sfn.Choice(this, STATES.SPOT_OR_ON_DEMAND)
          .when(sfn.Condition.numberGreaterThanEquals('$.attempt', props.maxAttempts), launch)
          .otherwise(launchSpot)
        : (launch ?? launchSpot)!;
    this.endStates = [launch, launchSpot].filter((l): l is LaunchInstance => l !== undefined);

    const bookkeeping = new LaunchBookkeeping(subnets);
    const waitToLaunch = new sfn.Wait(this, STATES.WAIT_TO_LAUNCH, { time: sfn.WaitTime.secondsPath(`${LAUNCH}.Delay`) }).next(this.chooseMarket);
    const retryHere = new sfn.Pass(this, STATES.RETRY_IN_SUBNET, {
      comment: 'The same client token: if an earlier try did launch, RunInstances returns that instance',
      parameters: bookkeeping.retryHere(),
      resultPath: LAUNCH,
    }).next(waitToLaunch);
    const nextSubnet = new sfn.Pass(this, STATES.NEXT_SUBNET, {
      comment: 'A fresh client token: this is a new launch, in another subnet',
      parameters: bookkeeping.nextSubnet(),
      resultPath: LAUNCH,
    }).next(this.chooseMarket);
    const waitForCapacity = new sfn.Pass(this, STATES.WAIT_FOR_CAPACITY, {
      comment: 'Every subnet is short of capacity, or the account of quota: wait, then start over in a random subnet',
      parameters: bookkeeping.waitForCapacity(),
      resultPath: LAUNCH,
    }).next(waitToLaunch);
    // Only a launch that could not succeed becomes the attempt's error ($.error is what later states test).
    this.gaveUp = new sfn.Pass(this, STATES.LAUNCH_GAVE_UP, {
      parameters: { 'Error.$': '$.launchError.Error', 'Cause.$': LAUNCH_ERROR_CAUSE },
      resultPath: '$.error',
    });
    this.refused = new sfn.Pass(this, STATES.LAUNCH_REFUSED, {
      comment: 'Another try cannot fix this: the run fails now, with what EC2 said',
      parameters: { 'Error': LAUNCH_ERRORS.REFUSED, 'Cause.$': LAUNCH_ERROR_CAUSE },
      resultPath: '$.error',
    });

    // Wait for capacity only while the attempt's waiting fits in the job timeout, and not on a Spot attempt that an
    // On-Demand attempt will follow: that one is the better wait.
    const withinJobTimeout = sfn.Condition.numberLessThanEquals(`${LAUNCH}.Waited`, props.jobTimeout.toSeconds());
    const mayWait =
      spec.spot && spec.onDemand
        ? sfn.Condition.and(withinJobTimeout, sfn.Condition.numberGreaterThanEquals('$.attempt', props.maxAttempts))
        : withinJobTimeout;
    const routes = { retryHere, nextSubnet, waitForCapacity, refused: this.refused, gaveUp: this.gaveUp };
    const launchFailed = new sfn.Choice(this, STATES.LAUNCH_FAILED, { comment: 'What EC2 said decides: see LAUNCH_FAILURES in launch.ts' });
    // A failure without a Cause text (none has been seen) is handled like any unknown one; every later rule can read it.
    const hasCause = sfn.Condition.and(sfn.Condition.isPresent(LAUNCH_ERROR_CAUSE), sfn.Condition.isString(LAUNCH_ERROR_CAUSE));
    addRules(launchFailed, UNKNOWN_LAUNCH_FAILURE, sfn.Condition.not(hasCause), { subnets, mayWait, routes });
    for (const kind of LAUNCH_FAILURES) addRules(launchFailed, kind, causeMatches(kind), { subnets, mayWait, routes });
    addRules(launchFailed, UNKNOWN_LAUNCH_FAILURE, undefined, { subnets, mayWait, routes });
    for (const l of this.endStates) (l as LaunchInstance).addCatch(launchFailed, { errors: [sfn.Errors.ALL], resultPath: '$.launchError' });

    const scriptNotFound = new sfn.Pass(this, STATES.SCRIPT_NOT_FOUND, {
      parameters: {
        Error: INPUT_ERRORS.SCRIPT_NOT_FOUND,
        Cause: sfn.JsonPath.format(
          `s3://${props.bucket.bucketName}/{} cannot be read ({}); upload the script first`,
          sfn.JsonPath.stringAt('$.script'),
          sfn.JsonPath.stringAt('$.error.Error'),
        ),
      },
      resultPath: '$.error',
    }).next(props.onScriptNotFound);
    const checkScript = new CheckScriptExists(this, STATES.CHECK_SCRIPT, { bucket: props.bucket });
    checkScript.addCatch(scriptNotFound, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
    // A seed-style userInput run has no script to look for.
    this.startState = new sfn.Choice(this, STATES.SCRIPT_OR_USER_INPUT)
      .when(sfn.Condition.stringEquals('$.script', ''), this.chooseMarket)
      .otherwise(checkScript.next(this.chooseMarket));
  }
}

interface RuleContext {
  readonly subnets: number;
  /** When a wait for capacity is allowed. */
  readonly mayWait: sfn.Condition;
  /** Where each outcome goes. */
  readonly routes: Record<'retryHere' | 'nextSubnet' | 'waitForCapacity' | 'refused' | 'gaveUp', sfn.IChainable>;
}

/**
 * The Choice rules for one kind of failure, in order: refuse; retry here while retries are left; the next subnet while
 * some are untried; wait while the job timeout allows; else give up. The last rule catches every failure of the kind,
 * so a failure never falls through to a later kind's rules. `matches` undefined: the choice's default (the unknown rest).
 */
function addRules(choice: sfn.Choice, kind: LaunchFailureKind, matches: sfn.Condition | undefined, ctx: RuleContext): void {
  const when = (c?: sfn.Condition) => (matches && c ? sfn.Condition.and(matches, c) : (c ?? matches));
  const rules: Array<[sfn.Condition | undefined, sfn.IChainable]> = [];
  if (kind.refuse) rules.push([when(), ctx.routes.refused]);
  if (kind.retries > 0) rules.push([when(sfn.Condition.numberLessThan(`${LAUNCH}.Retries`, kind.retries)), ctx.routes.retryHere]);
  if (kind.nextSubnet && ctx.subnets > 1) rules.push([when(sfn.Condition.numberLessThan(`${LAUNCH}.Tried`, ctx.subnets)), ctx.routes.nextSubnet]);
  if (kind.waitForCapacity) rules.push([when(ctx.mayWait), ctx.routes.waitForCapacity]);
  if (!kind.refuse) rules.push([when(), ctx.routes.gaveUp]);
  for (const [condition, next] of rules) {
    if (condition) choice.when(condition, next);
    else choice.otherwise(next);
  }
}

/** Whether the Cause holds one of the kind's message fragments or error codes. */
function causeMatches(kind: LaunchFailureKind): sfn.Condition {
  const conditions = [...kind.messages, ...kind.codes].map((text) => {
    if (/[*\\]/.test(text)) throw new Error(`a launch failure fragment cannot hold '*' or '\\': ${text}`);
    return sfn.Condition.stringMatches(LAUNCH_ERROR_CAUSE, `*${text}*`);
  });
  return conditions.length === 1 ? conditions[0] : sfn.Condition.or(...conditions);
}

/**
 * The `$.instance` a new attempt starts with, as Pass parameters: a random first subnet of `subnets`, a fresh client
 * token, nothing tried or waited yet.
 */
export function attemptLaunch(subnets: number): Record<string, unknown> {
  return new LaunchBookkeeping(subnets).firstOfAttempt();
}

/**
 * The `$.instance` of each step of a launch, as Pass parameters. The subnet arithmetic uses lookup tables written at
 * synth time (intrinsics have no modulo): `States.MathRandom(0, n)` picks the first subnet, and because the AWS docs say
 * its end is exclusive while aws-local-stepfunctions includes it, a table of n + 1 entries maps either result to a
 * valid index (https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-math-operation).
 */
class LaunchBookkeeping {
  private readonly firstSubnet: string;
  private readonly nextSubnetIndex: string;

  constructor(subnets: number) {
    const indexes = [...Array(subnets).keys()];
    this.firstSubnet = `States.ArrayGetItem(${intArray([...indexes, 0])}, States.MathRandom(0, ${subnets}))`;
    this.nextSubnetIndex = `States.ArrayGetItem(${intArray(indexes.map((i) => (i + 1) % subnets))}, ${LAUNCH}.SubnetIndex)`;
  }

  /** A new attempt: a random subnet, a fresh client token, nothing tried or waited yet. */
  public firstOfAttempt(): Record<string, unknown> {
    return { ...this.newRound(), Waits: 0, Waited: CAPACITY_WAIT_SECONDS[0] };
  }

  /** A retry in the same subnet: same client token, one retry more, and a back-off with full jitter. */
  public retryHere(): Record<string, unknown> {
    return {
      'InstanceId': 'none',
      'ClientToken.$': `${LAUNCH}.ClientToken`,
      'SubnetIndex.$': `${LAUNCH}.SubnetIndex`,
      'Tried.$': `${LAUNCH}.Tried`,
      'Retries.$': `States.MathAdd(${LAUNCH}.Retries, 1)`,
      'Waits.$': `${LAUNCH}.Waits`,
      'Waited.$': `${LAUNCH}.Waited`,
      'Delay.$': `States.MathRandom(0, States.ArrayGetItem(${intArray(RETRY_BACKOFF_SECONDS)}, ${LAUNCH}.Retries))`,
    };
  }

  /** The next subnet (wrapping around): a new launch with a fresh client token. */
  public nextSubnet(): Record<string, unknown> {
    return {
      'InstanceId': 'none',
      'ClientToken.$': 'States.UUID()',
      'SubnetIndex.$': this.nextSubnetIndex,
      'Tried.$': `States.MathAdd(${LAUNCH}.Tried, 1)`,
      'Retries': 0,
      'Waits.$': `${LAUNCH}.Waits`,
      'Waited.$': `${LAUNCH}.Waited`,
    };
  }

  /**
   * A wait for capacity, then a new round: the wait is random between half its cap and its cap, and `Waited` moves on
   * by the next wait's cap, so the Choice that allows a wait knows the most it can add.
   */
  public waitForCapacity(): Record<string, unknown> {
    const caps = CAPACITY_WAIT_SECONDS;
    const nextWaits = `States.ArrayGetItem(${intArray(caps.map((_, i) => Math.min(i + 1, caps.length - 1)))}, ${LAUNCH}.Waits)`;
    return {
      ...this.newRound(),
      'Waits.$': nextWaits,
      'Waited.$': `States.MathAdd(${LAUNCH}.Waited, States.ArrayGetItem(${intArray(caps)}, ${nextWaits}))`,
      'Delay.$': `States.MathRandom(States.ArrayGetItem(${intArray(caps.map((c) => Math.ceil(c / 2)))}, ${LAUNCH}.Waits), States.ArrayGetItem(${intArray(caps)}, ${LAUNCH}.Waits))`,
    };
  }

  private newRound(): Record<string, unknown> {
    return { 'InstanceId': 'none', 'ClientToken.$': 'States.UUID()', 'SubnetIndex.$': this.firstSubnet, 'Tried': 1, 'Retries': 0 };
  }
}

function intArray(values: readonly number[]): string {
  return `States.Array(${values.join(', ')})`;
}

interface LaunchInstanceProps {
  readonly spec: LaunchSpec;
  readonly spot: boolean;
}

/**
 * Request-response `ec2:runInstances`: the instance ID goes into the state so every later path can terminate it.
 * No Retry of its own: a Retry can only tell errors apart by name, and every EC2 error has the same one
 * (`Ec2.Ec2Exception`), so the launch's Choice decides from the Cause. The client token makes a retry in the same
 * subnet return the instance of an earlier try that did launch instead of starting a second one.
 */
class LaunchInstance extends tasks.CallAwsService implements IAcknowledgedState {
  private readonly spec: LaunchSpec;

  constructor(scope: Construct, id: string, props: LaunchInstanceProps) {
    super(scope, id, {
      comment: 'Request-response RunInstances: the instance ID goes into the state so every later path can terminate it',
      service: 'ec2',
      action: 'runInstances',
      parameters: props.spec.parameters({
        spot: props.spot,
        userData: USER_DATA_PLACEHOLDER,
        clientToken: sfn.JsonPath.stringAt('$.instance.ClientToken'),
        subnetId: sfn.JsonPath.arrayGetItem(sfn.JsonPath.listAt('$.subnets'), sfn.JsonPath.numberAt('$.instance.SubnetIndex')),
      }),
      iamResources: props.spec.iamResources,
      additionalIamStatements: props.spec.additionalStatements(props.spot),
      resultSelector: { 'InstanceId.$': '$.Instances[0].InstanceId' },
      resultPath: '$.instance',
      taskTimeout: sfn.Timeout.duration(Duration.minutes(2)),
    });
    this.spec = props.spec;
  }

  public nagAcknowledgements(): NagAcknowledgement[] {
    return this.spec.nagAcknowledgements(this);
  }
}

/** S3 HeadObject on the execution's script: a missing script fails the run before an instance is paid for. */
class CheckScriptExists extends tasks.CallAwsService implements IAcknowledgedState {
  private readonly bucket: s3.IBucket;

  constructor(scope: Construct, id: string, props: { bucket: s3.IBucket }) {
    super(scope, id, {
      service: 's3',
      action: 'headObject',
      parameters: { Bucket: props.bucket.bucketName, Key: sfn.JsonPath.stringAt('$.script') },
      iamAction: 's3:GetObject',
      iamResources: [props.bucket.arnForObjects('*')],
      resultPath: sfn.JsonPath.DISCARD,
    });
    this.bucket = props.bucket;
  }

  public nagAcknowledgements(): NagAcknowledgement[] {
    return [
      {
        id: wildcardResource(this, this.bucket.arnForObjects('*')),
        reason: "HeadObject checks that the execution's script exists before launching; the script may be at any key the user chose.",
      },
    ];
  }
}
