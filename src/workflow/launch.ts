import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { IAcknowledgedState, NagAcknowledgement, wildcardResource } from '../nag';
import { INPUT_ERRORS } from '../protocol';
import { STATES } from './states';

/** The definition substitution that holds the base64 user data (see run.ts). */
export const USER_DATA_SUBSTITUTION = 'UserData';

/**
 * What the definition holds in place of the base64 user data. CloudFormation substitutes it after resolving the
 * user data, so its text reaches EC2 unescaped (a CloudFormation intrinsic inside the definition string would be JSON-escaped).
 */
export const USER_DATA_PLACEHOLDER = `\${${USER_DATA_SUBSTITUTION}}`;

/**
 * Launch errors worth retrying. EC2's SDK integration reports most errors as the generic `Ec2.Ec2Exception` (the EC2
 * error code is only in the cause), so that one is retried too.
 */
export const LAUNCH_RETRY_ERRORS = [
  'Ec2.Ec2Exception',
  'Ec2.InsufficientInstanceCapacityException',
  'Ec2.RequestLimitExceededException',
  'Ec2.InternalErrorException',
  'Ec2.UnavailableException',
  'States.Timeout',
] as const;

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
  /** The subnets to launch in, in order of preference. */
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
  /** Where a run goes when its script is not in the bucket (with `$.error` = Input.ScriptNotFound). */
  readonly onScriptNotFound: sfn.IChainable;
}

/**
 * Checks that the script exists (before paying for an instance), then launches the attempt's instance: On-Demand,
 * Spot, or Spot with the last attempt On-Demand, retried on capacity and throttling errors with the same client token,
 * then in the next subnet. Ends in the launch task (whose result is the instance ID); a launch that failed in every
 * subnet leaves through `gaveUp` with `$.error` set. A fresh attempt re-enters at `chooseMarket`.
 */
export class Launch extends sfn.StateMachineFragment {
  public readonly startState: sfn.State;
  public readonly endStates: sfn.INextable[];
  /** Where a new attempt starts: the choice of market (or the only launch). */
  public readonly chooseMarket: sfn.IChainable;
  /** "Launch gave up": the launch failed in every subnet; chain the attempt's failure handling to it. */
  public readonly gaveUp: sfn.Pass;

  constructor(scope: Construct, id: string, props: LaunchProps) {
    super(scope, id);
    const { spec } = props;
    const launch = spec.onDemand ? new LaunchInstance(this, STATES.LAUNCH, { spec, spot: false }) : undefined;
    const launchSpot = spec.spot ? new LaunchInstance(this, STATES.LAUNCH_SPOT, { spec, spot: true }) : undefined;
    this.chooseMarket =
      launch && launchSpot
        ? new sfn.Choice(this, STATES.SPOT_OR_ON_DEMAND)
          .when(sfn.Condition.numberGreaterThanEquals('$.attempt', props.maxAttempts), launch)
          .otherwise(launchSpot)
        : (launch ?? launchSpot)!;
    this.endStates = [launch, launchSpot].filter((l): l is LaunchInstance => l !== undefined);

    // Capacity is per AZ: when a subnet's AZ has none left, try the next subnet before giving up.
    const nextSubnet = new sfn.Pass(this, STATES.NEXT_SUBNET, {
      comment: 'A fresh client token: this is a new launch, in another subnet',
      parameters: {
        'InstanceId': 'none',
        'ClientToken.$': 'States.UUID()',
        'SubnetIndex.$': 'States.MathAdd($.instance.SubnetIndex, 1)',
      },
      resultPath: '$.instance',
    }).next(this.chooseMarket);
    const capacityShort = sfn.Condition.or(
      sfn.Condition.stringEquals('$.launchError.Error', 'Ec2.InsufficientInstanceCapacityException'),
      sfn.Condition.stringMatches('$.launchError.Cause', '*InsufficientInstanceCapacity*'),
      sfn.Condition.stringMatches('$.launchError.Cause', '*Unsupported*'),
      sfn.Condition.stringMatches('$.launchError.Cause', '*SpotMaxPriceTooLow*'),
      sfn.Condition.stringMatches('$.launchError.Cause', '*MaxSpotInstanceCountExceeded*'),
    );
    // Only a launch that failed in every subnet becomes the attempt's error ($.error is what later states test).
    this.gaveUp = new sfn.Pass(this, STATES.LAUNCH_GAVE_UP, {
      parameters: { 'Error.$': '$.launchError.Error', 'Cause.$': '$.launchError.Cause' },
      resultPath: '$.error',
    });
    const launchFailed = new sfn.Choice(this, STATES.LAUNCH_FAILED)
      .when(sfn.Condition.and(capacityShort, sfn.Condition.numberLessThan('$.instance.SubnetIndex', spec.subnetIds.length - 1)), nextSubnet)
      .otherwise(this.gaveUp);
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

interface LaunchInstanceProps {
  readonly spec: LaunchSpec;
  readonly spot: boolean;
}

/**
 * Request-response `ec2:runInstances`: the instance ID goes into the state so every later path can terminate it.
 * Capacity and throttling errors are worth another try; the client token makes a retry return the instance of an
 * earlier try that did launch instead of starting a second one.
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
    this.addRetry({
      errors: [...LAUNCH_RETRY_ERRORS],
      interval: Duration.seconds(5),
      backoffRate: 2,
      maxAttempts: 3,
      jitterStrategy: sfn.JitterType.FULL,
    });
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
