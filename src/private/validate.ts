import { Token } from 'aws-cdk-lib';
import { ENV_NAME_PATTERN, MAX_ARGS, RESERVED_PREFIX } from '../protocol';

/**
 * The prop values the checks look at. A plain structure, so the checks can be unit-tested
 * without building a construct.
 */
export interface PropsToValidate {
  readonly hasVpc: boolean;
  readonly vpcCidr?: string;
  readonly maxAzs?: number;
  readonly hasVpcSubnets: boolean;
  readonly notificationEmail?: string;
  readonly rootVolumeSizeGiB?: number;
  readonly runArtifactsRetentionDays?: number;
  readonly osIsLinux: boolean;
  readonly hasNotificationTopic?: boolean;
  readonly hasNotificationKey?: boolean;
  readonly spotMaxPrice?: string;
  /** Prefixes of the job bucket the construct reads or writes for the user, by prop name. */
  readonly bucketPrefixes?: { [prop: string]: string };
  /** The schedule's fixed input, when there is a schedule. */
  readonly scheduleInput?: {
    readonly script?: string;
    readonly userInput?: string;
    readonly args?: string[];
    readonly env?: { [name: string]: string };
  };
}

/** Smallest CIDR we accept for a new VPC: each AZ gets a /(n+2) public subnet, and AWS keeps 5 addresses of each. */
const SMALLEST_VPC_PREFIX = 24;
const LARGEST_VPC_PREFIX = 16;

/**
 * Checks the props and returns every problem, each naming the prop, the value received and the fix.
 * Values that are still tokens are not checked.
 */
export function validateProps(p: PropsToValidate): string[] {
  const problems: string[] = [];

  if (p.hasVpc && p.vpcCidr !== undefined) {
    problems.push("set either 'vpc' (an existing VPC) or 'vpcCidr' (for a new VPC), not both");
  }
  if (p.hasVpc && p.maxAzs !== undefined) {
    problems.push("'maxAzs' only applies to the VPC the construct creates; remove it or remove 'vpc'");
  }
  if (!p.hasVpc && p.hasVpcSubnets) {
    problems.push("'vpcSubnets' selects subnets of an existing 'vpc'; pass 'vpc' too, or remove 'vpcSubnets'");
  }
  if (p.vpcCidr !== undefined && Token.isUnresolved(p.vpcCidr)) {
    problems.push("'vpcCidr' must be known at synth time (the VPC's subnets are laid out from it), not a token or CloudFormation parameter");
  } else if (p.vpcCidr !== undefined) {
    const cidrProblem = checkCidr(p.vpcCidr);
    if (cidrProblem) problems.push(cidrProblem);
  }
  if (p.maxAzs !== undefined && !Token.isUnresolved(p.maxAzs) && (!Number.isInteger(p.maxAzs) || p.maxAzs < 1 || p.maxAzs > 6)) {
    problems.push(`'maxAzs' must be a whole number from 1 to 6, got ${p.maxAzs}`);
  }

  if (p.notificationEmail !== undefined && !Token.isUnresolved(p.notificationEmail) && !isEmail(p.notificationEmail)) {
    problems.push(`'notificationEmail' must be one email address like ops@example.com, got '${p.notificationEmail}'`);
  }
  if (
    p.rootVolumeSizeGiB !== undefined &&
    !Token.isUnresolved(p.rootVolumeSizeGiB) &&
    (!Number.isInteger(p.rootVolumeSizeGiB) || p.rootVolumeSizeGiB < 1 || p.rootVolumeSizeGiB > 16_384)
  ) {
    problems.push(`'rootVolumeSize' must be a whole number of GiB from 1 to 16384, got ${p.rootVolumeSizeGiB}`);
  }
  if (
    p.runArtifactsRetentionDays !== undefined &&
    !Token.isUnresolved(p.runArtifactsRetentionDays) &&
    (!Number.isInteger(p.runArtifactsRetentionDays) || p.runArtifactsRetentionDays < 1)
  ) {
    problems.push(`'runArtifactsRetention' must be a whole number of days of at least 1, got ${p.runArtifactsRetentionDays}`);
  }
  if (p.hasNotificationTopic && p.hasNotificationKey) {
    problems.push("'notificationKey' encrypts the topic the construct creates; with 'notificationTopic', encrypt your own topic instead");
  }
  if (p.spotMaxPrice !== undefined && !Token.isUnresolved(p.spotMaxPrice) && !/^\d+(\.\d+)?$/.test(p.spotMaxPrice)) {
    problems.push(`'spot.maxPrice' must be a price in USD per hour like '0.05', got '${p.spotMaxPrice}'`);
  }
  if (p.scheduleInput) problems.push(...checkJobInput(p.scheduleInput));
  for (const [prop, prefix] of Object.entries(p.bucketPrefixes ?? {})) {
    if (Token.isUnresolved(prefix)) continue;
    const bare = prefix.replace(/^\/+|\/+$/g, '');
    if (bare === '' || `${bare}/` === RESERVED_PREFIX || bare.startsWith(RESERVED_PREFIX) || bare.includes('..')) {
      problems.push(`'${prop}' must be a prefix of the job bucket outside '${RESERVED_PREFIX}' (the pipeline's own) and without '..', got '${prefix}'`);
    }
  }
  if (!p.osIsLinux) {
    problems.push("'machineImage' must be a Linux image: the bootstrap is a bash script");
  }

  return problems;
}

/** The same rules the state machine applies to an execution's input, checked at synth for a schedule's fixed input. */
function checkJobInput(input: NonNullable<PropsToValidate['scheduleInput']>): string[] {
  const problems: string[] = [];
  const has = (v: unknown) => v !== undefined;
  if (has(input.script) === has(input.userInput)) {
    problems.push("'schedule.input' needs exactly one of 'script' (a key in the job bucket) or 'userInput' (bash text)");
  }
  if (input.script !== undefined && !Token.isUnresolved(input.script)) {
    if (input.script === '' || input.script.startsWith(RESERVED_PREFIX) || input.script.startsWith('/') || input.script.includes('..')) {
      problems.push(`'schedule.input.script' must be a key in the job bucket outside '${RESERVED_PREFIX}', without a leading '/' or '..', got '${input.script}'`);
    }
  }
  if (input.userInput !== undefined && !Token.isUnresolved(input.userInput) && input.userInput === '') {
    problems.push("'schedule.input.userInput' must not be empty");
  }
  if (input.args && input.args.length > MAX_ARGS) problems.push(`'schedule.input.args' may hold at most ${MAX_ARGS} strings, got ${input.args.length}`);
  for (const name of Object.keys(input.env ?? {})) {
    if (!ENV_NAME_PATTERN.test(name)) {
      problems.push(`'schedule.input.env' has '${name}', which is not an environment variable name (letters, digits and _, not starting with a digit)`);
    }
  }
  return problems;
}

function checkCidr(cidr: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr.trim());
  if (!m || m.slice(1, 5).some((o) => Number(o) > 255)) {
    return `'vpcCidr' must be an IPv4 CIDR block like 10.0.0.0/16, got '${cidr}'`;
  }
  const prefix = Number(m[5]);
  if (prefix < LARGEST_VPC_PREFIX || prefix > SMALLEST_VPC_PREFIX) {
    return (
      `'vpcCidr' must have a prefix from /${LARGEST_VPC_PREFIX} to /${SMALLEST_VPC_PREFIX} (AWS allows /16 at most, ` +
      `and smaller blocks leave no room for a subnet per AZ), got '${cidr}'`
    );
  }
  return undefined;
}

function isEmail(value: string): boolean {
  return /^[^\s@,;]+@[^\s@,;]+\.[^\s@,;]+$/.test(value);
}
