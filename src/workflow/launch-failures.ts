/**
 * The launch's failure table: every kind of RunInstances failure it tells apart, and the waits between tries. Data
 * only; launch.ts turns it into states.
 */
/**
 * One kind of RunInstances failure: how the launch recognizes it, and what it does about it.
 *
 * Through the aws-sdk integration every EC2 error arrives as `Ec2.Ec2Exception`, with EC2's MESSAGE (not its error
 * code) in the Cause, followed by ` (Service: Ec2, Status Code: N, Request ID: ...)`: the Step Functions output in
 * CloudSnorkel/cdk-github-runners#192, the naming rule in the Step Functions developer guide
 * (https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html) and the SDK's message format
 * (aws-sdk-java-v2 AwsServiceException.getMessage); see test/fixtures/aws/ec2-error-naming-sfn-sdk-integration.json.
 * So the launch tells failures apart by message fragments. Sources only partly verify that wrapping, so it also
 * matches the EC2 error codes: a Cause that carries either routes the same way.
 */
export interface LaunchFailureKind {
  /** A short name, for the README and the tests. */
  readonly name: string;
  /** Fragments of EC2's messages (case-sensitive), from the fixtures in `sources`. */
  readonly messages: readonly string[];
  /** The EC2 error codes of the same failures. */
  readonly codes: readonly string[];
  /** How many times it is retried in the same subnet (same client token), after a back-off with full jitter. */
  readonly retries: number;
  /** Then (or instead) the next subnet is tried, until every subnet has been tried once. */
  readonly nextSubnet: boolean;
  /**
   * Then the launch waits for capacity and starts over, for as long as the job's own timeout allows (On-Demand, or
   * Spot without an On-Demand attempt to come), before the attempt fails.
   */
  readonly waitForCapacity: boolean;
  /** The run fails at once with `Launch.Refused`: no retry, no other subnet, no other attempt. */
  readonly refuse: boolean;
  /** The fixtures (test/fixtures/aws) the messages come from. */
  readonly sources: readonly string[];
}

/**
 * The kinds of launch failure, in order of precedence: a Cause that matches two kinds is the first one's. What can go
 * away on its own comes before a refusal, so a message that looks like both is retried rather than failed at once.
 * Anything else is `UNKNOWN_LAUNCH_FAILURE`.
 */
export const LAUNCH_FAILURES: readonly LaunchFailureKind[] = [
  {
    // EC2 throttles per account and Region with token buckets (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html):
    // waiting is what helps, in any subnet.
    name: 'throttled',
    messages: ['Request limit exceeded'],
    codes: ['RequestLimitExceeded'],
    retries: 6,
    nextSubnet: false,
    waitForCapacity: true,
    refuse: false,
    sources: ['ec2-run-request-limit-exceeded'],
  },
  {
    // Account-wide quotas: another subnet does not help; instances ending elsewhere may.
    name: 'quota',
    messages: ['You have requested more vCPU capacity than your current vCPU limit', 'Max spot instance count exceeded'],
    codes: ['VcpuLimitExceeded', 'MaxSpotInstanceCountExceeded'],
    retries: 0,
    nextSubnet: false,
    waitForCapacity: true,
    refuse: false,
    sources: ['ec2-run-vcpu-limit-exceeded', 'ec2-run-spot-instance-count-exceeded'],
  },
  {
    // Per Availability Zone (capacity, Spot pools and prices) or per subnet (addresses): another subnet may have room,
    // and the same one may later.
    name: 'no capacity',
    messages: [
      'We currently do not have sufficient',
      'Insufficient capacity',
      'There is no Spot capacity available',
      'lower than the minimum required Spot request fulfillment price',
      'not enough free addresses in subnet',
    ],
    codes: ['InsufficientInstanceCapacity', 'SpotMaxPriceTooLow', 'InsufficientFreeAddressesInSubnet'],
    retries: 0,
    nextSubnet: true,
    waitForCapacity: true,
    refuse: false,
    sources: [
      'ec2-run-insufficient-instance-capacity',
      'ec2-run-spot-no-capacity',
      'ec2-run-spot-max-price-too-low',
      'ec2-run-insufficient-free-addresses',
    ],
  },
  {
    // The instance type is not offered in this subnet's AZ: another AZ may offer it; waiting does not help.
    name: 'not offered in the AZ',
    messages: ['is not supported in your requested Availability Zone'],
    codes: ['Unsupported'],
    retries: 0,
    nextSubnet: true,
    waitForCapacity: false,
    refuse: false,
    sources: ['ec2-run-unsupported-az'],
  },
  {
    // Right after a deployment creates the instance profile, EC2 may not see it yet (IAM is eventually consistent):
    // an "invalid parameter" that goes away within about a minute, so it comes before the refusals.
    name: 'instance profile not ready',
    messages: ['iamInstanceProfile', 'IAM Instance Profile'],
    codes: [],
    retries: 6,
    nextSubnet: false,
    waitForCapacity: false,
    refuse: false,
    sources: ['ec2-run-invalid-instance-profile'],
  },
  {
    // Nothing another try changes: permissions, parameters, an image that does not exist.
    name: 'refused',
    messages: ['not authorized', 'Not authorized', 'Invalid', 'is invalid', 'does not exist', 'may not be specified'],
    codes: ['UnauthorizedOperation', 'InvalidParameter', 'InvalidAMIID'],
    retries: 0,
    nextSubnet: false,
    waitForCapacity: false,
    refuse: true,
    sources: ['ec2-run-unauthorized-operation', 'ec2-run-invalid-parameter', 'ec2-run-invalid-ami'],
  },
];

/** Any other failure (an internal error, a task timeout, a Cause we have never seen): a few tries here, then elsewhere. */
export const UNKNOWN_LAUNCH_FAILURE: LaunchFailureKind = {
  name: 'anything else',
  messages: [],
  codes: [],
  retries: 2,
  nextSubnet: true,
  waitForCapacity: false,
  refuse: false,
  sources: ['ec2-run-internal-error'],
};

/**
 * The back-off before each retry in the same subnet (its cap in seconds; the wait is random between 0 and the cap:
 * full jitter, as AWS advises for throttled EC2 calls: https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html
 * and https://docs.aws.amazon.com/general/latest/gr/api-retries.html). Interval 2 s, rate 2, at most 60 s, 6 retries:
 * about a minute on average, which rides out a burst against EC2's token buckets.
 */
export const RETRY_BACKOFF_SECONDS = [2, 4, 8, 16, 32, 60] as const;

/**
 * The waits for capacity (caps in seconds; each wait is random between half the cap and the cap, so waiting runs do
 * not all try again at once). The last cap repeats. Short at first, for a shortage that clears in seconds; long later,
 * so a run that waits an hour takes a few dozen state transitions, not thousands.
 */
export const CAPACITY_WAIT_SECONDS = [15, 30, 60, 120, 240, 480, 900] as const;
