import { Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import { acknowledge } from '../nag';
import type { ShellScriptPipelineProps } from '../shell-script-pipeline-props';

/** The props this part owns. */
export type NetworkProps = Pick<ShellScriptPipelineProps, 'vpc' | 'vpcSubnets' | 'vpcCidr' | 'maxAzs' | 'assignPublicIp'>;

const DEFAULT_CIDR = '10.0.0.0/16';
const DEFAULT_MAX_AZS = 2;
/**
 * Smallest CIDR we accept for a new VPC: each AZ gets a public subnet, and AWS keeps 5 addresses of each subnet
 * (https://docs.aws.amazon.com/vpc/latest/userguide/subnet-sizing.html).
 */
const SMALLEST_VPC_PREFIX = 24;
/** The largest VPC block AWS allows is a /16 (https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html). */
const LARGEST_VPC_PREFIX = 16;
/** The size of a job subnet when the VPC has room: a /20, 4,091 usable addresses (see subnetLayout). */
const JOB_SUBNET_PREFIX = 20;

/**
 * Where the job instances run: the VPC (created, or the user's), the subnets to launch in, whether instances get a
 * public IP, and their security group. A created VPC has one public subnet per AZ, no NAT gateway and an S3 gateway
 * endpoint: nothing billed by the hour. The security group has no inbound rules.
 */
export class Network {
  /** What is wrong with these props, each naming the prop, the value and the fix. Values that are tokens are not checked. */
  public static problems(props: NetworkProps): string[] {
    const problems: string[] = [];
    const hasVpc = props.vpc !== undefined;
    if (hasVpc && props.vpcCidr !== undefined) {
      problems.push("set either 'vpc' (an existing VPC) or 'vpcCidr' (for a new VPC), not both");
    }
    if (hasVpc && props.maxAzs !== undefined) {
      problems.push("'maxAzs' only applies to the VPC the construct creates; remove it or remove 'vpc'");
    }
    if (!hasVpc && props.vpcSubnets !== undefined) {
      problems.push("'vpcSubnets' selects subnets of an existing 'vpc'; pass 'vpc' too, or remove 'vpcSubnets'");
    }
    if (props.vpcCidr !== undefined && Token.isUnresolved(props.vpcCidr)) {
      problems.push("'vpcCidr' must be known at synth time (the VPC's subnets are laid out from it), not a token or CloudFormation parameter");
    } else if (props.vpcCidr !== undefined) {
      const cidrProblem = checkCidr(props.vpcCidr);
      if (cidrProblem) problems.push(cidrProblem);
    }
    const maxAzs = props.maxAzs;
    if (maxAzs !== undefined && !Token.isUnresolved(maxAzs) && (!Number.isInteger(maxAzs) || maxAzs < 1 || maxAzs > 6)) {
      problems.push(`'maxAzs' must be a whole number from 1 to 6, got ${maxAzs}`);
    }
    return problems;
  }

  public readonly vpc: ec2.IVpc;
  /** The job instances' security group: no inbound rules, outbound HTTPS only. */
  public readonly securityGroup: ec2.SecurityGroup;
  /** The subnets to launch in (each attempt starts in a random one, then tries the others in turn). */
  public readonly subnetIds: string[];
  /** Whether a job instance gets a public IPv4 address. */
  public readonly assignPublicIp: boolean;

  constructor(pipeline: Construct, props: NetworkProps) {
    let subnets: ec2.SelectedSubnets;
    if (props.vpc) {
      const vpc = props.vpc;
      this.vpc = vpc;
      subnets = vpc.selectSubnets(props.vpcSubnets ?? defaultSubnets(pipeline.node.id, vpc));
      this.assignPublicIp = props.assignPublicIp ?? subnets.subnets.every((s) => vpc.publicSubnets.includes(s));
    } else {
      const maxAzs = props.maxAzs ?? DEFAULT_MAX_AZS;
      const vpc = new ec2.Vpc(pipeline, 'Vpc', {
        ipAddresses: ec2.IpAddresses.cidr(props.vpcCidr ?? DEFAULT_CIDR),
        maxAzs,
        natGateways: 0,
        subnetConfiguration: subnetLayout(props.vpcCidr ?? DEFAULT_CIDR, maxAzs),
        // S3 traffic (scripts, task documents, logs) stays on the AWS network, free of charge.
        gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
      });
      acknowledge(vpc, {
        id: 'AwsSolutions-VPC7',
        reason:
          'The VPC holds only short-lived job instances that accept no inbound traffic. Flow logs are billed per GB; ' +
          'pass your own VPC with flow logs through the `vpc` prop to have them.',
      });
      this.vpc = vpc;
      subnets = vpc.selectSubnets({ subnetType: ec2.SubnetType.PUBLIC });
      this.assignPublicIp = props.assignPublicIp ?? true;
    }
    this.subnetIds = subnets.subnetIds;
    this.securityGroup = new ec2.SecurityGroup(pipeline, 'SecurityGroup', {
      vpc: this.vpc,
      description: 'Shell script pipeline job instances: no inbound rules, outbound HTTPS to AWS APIs',
      allowAllOutbound: false,
    });
    // The bootstrap and runtime only talk to AWS APIs (S3, Step Functions, the distribution's repository) over HTTPS.
    this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to AWS APIs');
  }
}

function defaultSubnets(id: string, vpc: ec2.IVpc): ec2.SubnetSelection {
  if (vpc.privateSubnets.length > 0) return { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
  if (vpc.publicSubnets.length > 0) return { subnetType: ec2.SubnetType.PUBLIC };
  throw new Error(
    `ShellScriptPipeline '${id}': 'vpc' has no private subnets with egress and no public subnets; pass 'vpcSubnets' to choose ` +
      'subnets explicitly (isolated subnets need VPC endpoints for S3 and Step Functions)',
  );
}

/**
 * One public "Jobs" subnet per AZ.
 *
 * When the block has room for twice as many /20s as AZs (the default 10.0.0.0/16 has room for 16), each Jobs subnet
 * is a /20: 4,096 addresses, of which AWS keeps 5 (https://docs.aws.amazon.com/vpc/latest/userguide/subnet-sizing.html),
 * so two AZs hold 8,182 job instances at once, still without a NAT gateway. A reserved group of /20s comes first: CDK
 * lays subnets out in the order of the groups, so the Jobs /20s start after the reserved space (10.0.32.0/20 and
 * 10.0.48.0/20 in two AZs) and do not overlap the /24s that earlier versions created at the start of the block
 * (10.0.0.0/24, 10.0.1.0/24). Changing a subnet's CIDR replaces it, and CloudFormation creates the replacement
 * before it deletes the old subnet, so an overlapping /20 (10.0.0.0/20 contains 10.0.0.0/24) would fail to create.
 *
 * A smaller block keeps the earlier layout, unchanged: a /24 each when the block has room, else the largest size
 * that still fits one per AZ (a /24 VPC in 6 AZs gets six /27s). The checks keep the block between /16 and /24.
 */
function subnetLayout(cidr: string, maxAzs: number): ec2.SubnetConfiguration[] {
  const prefix = Number(cidr.split('/')[1]);
  const jobs = { name: 'Jobs', subnetType: ec2.SubnetType.PUBLIC, mapPublicIpOnLaunch: false };
  if (prefix + Math.ceil(Math.log2(2 * maxAzs)) <= JOB_SUBNET_PREFIX) {
    return [
      { name: 'Reserved', subnetType: ec2.SubnetType.PUBLIC, cidrMask: JOB_SUBNET_PREFIX, reserved: true },
      { ...jobs, cidrMask: JOB_SUBNET_PREFIX },
    ];
  }
  return [{ ...jobs, cidrMask: Math.max(prefix + Math.ceil(Math.log2(Math.max(maxAzs, 1))), 24) }];
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
