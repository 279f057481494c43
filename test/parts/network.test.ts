/**
 * parts/network: vpc, vpcSubnets, vpcCidr, maxAzs and assignPublicIp. The VPC the construct creates (or the one given),
 * the subnets it launches in, the public IP, the security group, and the checks.
 */
import { App, CfnParameter, Lazy, Stack, Token } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { ShellScriptPipeline } from '../../src';
import { Network, NetworkProps } from '../../src/parts/network';
import { ec2Arn, hasAction, roleStatements } from '../support/policies';
import {
  expectRejected,
  launchParameters,
  launchSubnets,
  resolveIntrinsics,
  resourcesOfType,
  synth,
  Synthesized,
  TEST_ENV,
  testStack,
  value,
} from '../support/template';

const SIX_AZS = ['a', 'b', 'c', 'd', 'e', 'f'].map((z) => `${TEST_ENV.region}${z}`);

/** Some existing VPC, for the checks. */
const aVpc = () => ec2.Vpc.fromVpcAttributes(testStack(), 'Existing', { vpcId: 'vpc-1', availabilityZones: ['eu-west-1a'], publicSubnetIds: ['subnet-1'] });
const check = (props: NetworkProps) => () => {
  const problems = Network.problems(props);
  if (problems.length > 0) throw new Error(problems.join('\n'));
};
const messageOf = (props: NetworkProps) => Network.problems(props).join('\n');

/** Whether two IPv4 CIDR blocks share an address. */
function overlaps(a: string, b: string): boolean {
  const range = (cidr: string) => {
    const [ip, prefix] = cidr.split('/');
    const start = ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
    return [start, start + 2 ** (32 - Number(prefix)) - 1];
  };
  const [a0, a1] = range(a);
  const [b0, b1] = range(b);
  return a0 <= b1 && b0 <= a1;
}

describe('checks', () => {
  test('accept the defaults and every value at the edge of its range', () => {
    expect(check({})).not.toThrow();
    expect(check({ vpcCidr: '10.0.0.0/16', maxAzs: 6 })).not.toThrow();
    expect(check({ vpcCidr: '192.168.0.0/24', maxAzs: 1 })).not.toThrow();
  });

  test("fail when both 'vpc' and 'vpcCidr' are set", () => {
    expect(check({ vpc: aVpc(), vpcCidr: '10.0.0.0/16' })).toThrow(/set either 'vpc' \(an existing VPC\) or 'vpcCidr' \(for a new VPC\), not both/);
  });

  test("fail when 'maxAzs' is set with 'vpc'", () => {
    expect(check({ vpc: aVpc(), maxAzs: 2 })).toThrow(/'maxAzs' only applies to the VPC the construct creates; remove it or remove 'vpc'/);
  });

  test("fail when 'vpcSubnets' is set without 'vpc'", () => {
    expect(check({ vpcSubnets: {} })).toThrow(/'vpcSubnets' selects subnets of an existing 'vpc'; pass 'vpc' too, or remove 'vpcSubnets'/);
  });

  test("accept 'vpc' with 'vpcSubnets'", () => {
    expect(check({ vpc: aVpc(), vpcSubnets: {} })).not.toThrow();
  });

  test.each(['banana', '10.0.0.0', '300.0.0.0/16', '10.0.0/16', '10.0.0.0/'])('fail when vpcCidr is unparsable: %s', (cidr) => {
    expect(messageOf({ vpcCidr: cidr })).toContain(`'vpcCidr' must be an IPv4 CIDR block like 10.0.0.0/16, got '${cidr}'`);
  });

  test.each(['10.0.0.0/25', '10.0.0.0/28'])('fail when vpcCidr is too small: %s', (cidr) => {
    expect(check({ vpcCidr: cidr })).toThrow(/'vpcCidr' must have a prefix from \/16 to \/24/);
  });

  test.each(['10.0.0.0/8', '10.0.0.0/15'])('fail when vpcCidr is too big: %s', (cidr) => {
    expect(check({ vpcCidr: cidr })).toThrow(/'vpcCidr' must have a prefix from \/16 to \/24 \(AWS allows \/16 at most/);
  });

  test.each([0, 7, 1.5])('fail when maxAzs is %s', (maxAzs) => {
    expect(check({ maxAzs })).toThrow(/'maxAzs' must be a whole number from 1 to 6/);
  });

  test('do not check values that are tokens', () => {
    expect(check({ maxAzs: Token.asNumber(Lazy.number({ produce: () => 99 })) })).not.toThrow();
  });
});

describe('the construct rejects bad values at synth', () => {
  test("fails when both 'vpc' and 'vpcCidr' are set", () => {
    expectRejected((stack) => ({ vpc: new ec2.Vpc(stack, 'UserVpc'), vpcCidr: '10.0.0.0/16' }), /'vpc'.*'vpcCidr'.*not both/);
  });

  test("fails when 'maxAzs' is set with 'vpc'", () => {
    expectRejected((stack) => ({ vpc: new ec2.Vpc(stack, 'UserVpc'), maxAzs: 2 }), /'maxAzs' only applies to the VPC the construct creates; remove it or remove 'vpc'/);
  });

  test("fails when 'vpcSubnets' is set without 'vpc'", () => {
    expectRejected({ vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC } }, /'vpcSubnets'.*pass 'vpc' too, or remove 'vpcSubnets'/);
  });

  test.each(['banana', '10.0.0.0', '300.0.0.0/16'])('fails when vpcCidr is unparsable: %s', (cidr) => {
    expectRejected({ vpcCidr: cidr }, new RegExp(`'vpcCidr' must be an IPv4 CIDR block like 10\\.0\\.0\\.0/16, got '${cidr.replace(/\./g, '\\.')}'`));
  });

  test('fails when vpcCidr is too small (/25)', () => {
    expectRejected({ vpcCidr: '10.0.0.0/25' }, /'vpcCidr' must have a prefix from \/16 to \/24.*got '10\.0\.0\.0\/25'/);
  });

  test('fails when vpcCidr is too big (/8)', () => {
    expectRejected({ vpcCidr: '10.0.0.0/8' }, /'vpcCidr' must have a prefix from \/16 to \/24.*got '10\.0\.0\.0\/8'/);
  });

  test('fails when maxAzs is out of range', () => {
    expectRejected({ maxAzs: 0 }, /'maxAzs' must be a whole number from 1 to 6, got 0/);
  });

  test('fails when vpcCidr is a token, naming the prop', () => {
    // ec2.Vpc cannot split a CIDR it does not know, so a token vpcCidr can never work; the error should say which prop.
    expectRejected((stack) => ({ vpcCidr: new CfnParameter(stack, 'Cidr', { type: 'String' }).valueAsString }), /'vpcCidr'/);
  });

  test('the smallest vpcCidr still fits the most AZs: a /24 in 6 AZs gets six /27 subnets', () => {
    // Both values are within their documented ranges, so together they must synthesize too.
    const app = new App({ context: { [`availability-zones:account=${TEST_ENV.account}:region=${TEST_ENV.region}`]: SIX_AZS } });
    const stack = new Stack(app, 'TestStack', { env: TEST_ENV });
    new ShellScriptPipeline(stack, 'Nightly', { vpcCidr: '10.0.0.0/24', maxAzs: 6 });
    const subnets = Object.values<any>(Template.fromStack(stack).toJSON().Resources).filter((r) => r.Type === 'AWS::EC2::Subnet');
    expect(subnets.map((r) => r.Properties.CidrBlock)).toHaveLength(6);
    expect(subnets.every((r) => r.Properties.CidrBlock.endsWith('/27'))).toBe(true);
  });
});

describe('with default props', () => {
  let s: Synthesized;
  let template: Template;
  beforeAll(() => {
    s = synth();
    template = s.template;
  });

  test('creates one VPC with CIDR 10.0.0.0/16', () => {
    template.resourceCountIs('AWS::EC2::VPC', 1);
    template.hasResourceProperties('AWS::EC2::VPC', { CidrBlock: '10.0.0.0/16' });
  });

  test('has one public subnet in each of 2 AZs and nothing else', () => {
    const subnets = resourcesOfType(s, 'AWS::EC2::Subnet');
    expect(subnets).toHaveLength(2);
    expect(new Set(subnets.map((x) => x.Properties.AvailabilityZone)).size).toBe(2);
    for (const subnet of subnets) {
      expect(subnet.Properties.Tags).toEqual(expect.arrayContaining([{ Key: 'aws-cdk:subnet-type', Value: 'Public' }]));
    }
    expect(s.pipeline.vpc.privateSubnets).toHaveLength(0);
    expect(s.pipeline.vpc.isolatedSubnets).toHaveLength(0);
  });

  test('creates no NAT gateway', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::EIP', 0);
  });

  test('room for 1,000 concurrent jobs: a /20 per AZ, 2 × 4,091 usable addresses, still without a NAT gateway', () => {
    const cidrs = resourcesOfType(s, 'AWS::EC2::Subnet').map((x) => x.Properties.CidrBlock);
    expect(cidrs).toEqual(['10.0.32.0/20', '10.0.48.0/20']);
    // AWS keeps 5 addresses of every subnet (https://docs.aws.amazon.com/vpc/latest/userguide/subnet-sizing.html).
    const usable = cidrs.map((c) => 2 ** (32 - Number(c.split('/')[1])) - 5);
    expect(usable).toEqual([4091, 4091]);
    expect(usable.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1000);
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
  });

  test('the /20s do not overlap the /24s earlier versions created, so replacing the subnets can create the new ones first', () => {
    const earlier = ['10.0.0.0/24', '10.0.1.0/24'];
    // Without the reserved group the first /20 would be 10.0.0.0/20, which holds 10.0.0.0/24: its creation would fail.
    expect(overlaps('10.0.0.0/20', '10.0.0.0/24')).toBe(true);
    for (const cidr of resourcesOfType(s, 'AWS::EC2::Subnet').map((x) => x.Properties.CidrBlock)) {
      for (const old of earlier) expect([cidr, old, overlaps(cidr, old)]).toEqual([cidr, old, false]);
    }
    // The reserved group in front creates nothing, and the Jobs subnets keep their logical IDs.
    expect(Object.keys(s.json.Resources).filter((id) => s.json.Resources[id].Type === 'AWS::EC2::Subnet')).toEqual([
      'NightlyVpcJobsSubnet1Subnet60E82719',
      'NightlyVpcJobsSubnet2SubnetF3585475',
    ]);
  });

  test('subnets do not map public IPs on launch', () => {
    const subnets = resourcesOfType(s, 'AWS::EC2::Subnet');
    expect(subnets.map((x) => x.Properties.MapPublicIpOnLaunch)).toEqual([false, false]);
  });

  test('adds an S3 gateway endpoint to the public route tables', () => {
    template.resourceCountIs('AWS::EC2::VPCEndpoint', 1);
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway', VpcId: s.stack.resolve(s.pipeline.vpc.vpcId) });
    const endpoint = resourcesOfType(s, 'AWS::EC2::VPCEndpoint')[0];
    expect(resolveIntrinsics(endpoint.Properties.ServiceName)).toBe(`com.amazonaws.${TEST_ENV.region}.s3`);
    expect(endpoint.Properties.RouteTableIds).toHaveLength(2);
  });

  test('launches in a public subnet of the new VPC, with a public IP and the pipeline security group', () => {
    const ni = launchParameters(s).NetworkInterfaces[0];
    expect(launchSubnets(s)).toEqual(s.pipeline.vpc.publicSubnets.map((x) => value(s, x.subnetId)));
    expect(ni.AssociatePublicIpAddress).toBe(true);
    expect(ni.Groups).toEqual([value(s, s.pipeline.securityGroup.securityGroupId)]);
    expect(ni.DeleteOnTermination).toBe(true);
  });

  describe('security group', () => {
    test('has no ingress rules at all', () => {
      template.resourceCountIs('AWS::EC2::SecurityGroup', 1);
      template.hasResourceProperties('AWS::EC2::SecurityGroup', { SecurityGroupIngress: Match.absent() });
      template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
    });

    test('allows egress on tcp/443 only', () => {
      const sg = resourcesOfType(s, 'AWS::EC2::SecurityGroup')[0];
      expect(sg.Properties.SecurityGroupEgress).toEqual([
        expect.objectContaining({ CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 443, ToPort: 443 }),
      ]);
      template.resourceCountIs('AWS::EC2::SecurityGroupEgress', 0);
    });
  });
});

describe('with vpcCidr, maxAzs and assignPublicIp', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth({ vpcCidr: '10.1.0.0/20', maxAzs: 3, assignPublicIp: false });
  });

  test('vpcCidr sets the VPC CIDR and the subnets are carved from it', () => {
    s.template.hasResourceProperties('AWS::EC2::VPC', { CidrBlock: '10.1.0.0/20' });
    const cidrs = resourcesOfType(s, 'AWS::EC2::Subnet').map((x) => x.Properties.CidrBlock).sort();
    expect(cidrs).toEqual(['10.1.0.0/24', '10.1.1.0/24', '10.1.2.0/24']);
  });

  test('a /16 vpcCidr in 3 AZs gets /20 Jobs subnets after 3 reserved /20s', () => {
    const big = synth({ vpcCidr: '10.1.0.0/16', maxAzs: 3 });
    const cidrs = resourcesOfType(big, 'AWS::EC2::Subnet').map((x) => x.Properties.CidrBlock);
    expect(cidrs).toEqual(['10.1.48.0/20', '10.1.64.0/20', '10.1.80.0/20']);
    expect(cidrs.some((c) => ['10.1.0.0/24', '10.1.1.0/24', '10.1.2.0/24'].some((old) => overlaps(c, old)))).toBe(false);
  });

  test('the smallest vpcCidr (/24) is split in one subnet per AZ, as large as fits (two AZs: /25s)', () => {
    const small = synth({ vpcCidr: '10.2.0.0/24' });
    small.template.hasResourceProperties('AWS::EC2::VPC', { CidrBlock: '10.2.0.0/24' });
    const cidrs = resourcesOfType(small, 'AWS::EC2::Subnet').map((x) => x.Properties.CidrBlock).sort();
    expect(cidrs).toEqual(['10.2.0.0/25', '10.2.0.128/25']);
  });

  test('maxAzs sets the number of public subnets', () => {
    const subnets = resourcesOfType(s, 'AWS::EC2::Subnet');
    expect(subnets).toHaveLength(3);
    expect(new Set(subnets.map((x) => x.Properties.AvailabilityZone)).size).toBe(3);
    s.template.resourceCountIs('AWS::EC2::NatGateway', 0);
  });

  test('assignPublicIp: false launches without a public IP', () => {
    expect(launchParameters(s).NetworkInterfaces[0].AssociatePublicIpAddress).toBe(false);
  });
});

describe('with an existing VPC', () => {
  describe('created in the same stack, with private subnets', () => {
    let s: Synthesized;
    let vpc: ec2.Vpc;
    beforeAll(() => {
      s = synth({}, (stack) => {
        vpc = new ec2.Vpc(stack, 'UserVpc', { maxAzs: 2, natGateways: 1 });
        return { vpc };
      });
    });

    test('creates no VPC, no subnets and no endpoint of its own', () => {
      s.template.resourceCountIs('AWS::EC2::VPC', 1);
      expect(s.pipeline.vpc).toBe(vpc);
      expect(resourcesOfType(s, 'AWS::EC2::Subnet')).toHaveLength(4); // the user's 2 public + 2 private
      s.template.resourceCountIs('AWS::EC2::VPCEndpoint', 0);
    });

    test('launches in a private subnet without a public IP by default', () => {
      const ni = launchParameters(s).NetworkInterfaces[0];
      expect(launchSubnets(s)).toEqual(vpc.privateSubnets.map((x) => value(s, x.subnetId)));
      expect(ni.AssociatePublicIpAddress).toBe(false);
    });

    test('the security group belongs to that VPC', () => {
      s.template.hasResourceProperties('AWS::EC2::SecurityGroup', {
        GroupDescription: Match.stringLikeRegexp('Shell script pipeline'),
        VpcId: s.stack.resolve(vpc.vpcId),
      });
    });

    test('RunInstances is allowed in the selected subnets only', () => {
      const resources = roleStatements(s, s.pipeline.stateMachine.role)
        .filter((st) => hasAction(st, 'ec2:RunInstances'))
        .flatMap((st) => st.Resource)
        .filter((r) => r.includes(':subnet/'))
        .sort();
      expect(resources).toEqual(vpc.privateSubnets.map((x) => ec2Arn(`subnet/${value(s, x.subnetId)}`)).sort());
    });
  });

  test('vpcSubnets selecting public subnets launches there with a public IP', () => {
    let vpc!: ec2.Vpc;
    const s = synth({}, (stack) => {
      vpc = new ec2.Vpc(stack, 'UserVpc', { maxAzs: 2, natGateways: 1 });
      return { vpc, vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC } };
    });
    const ni = launchParameters(s).NetworkInterfaces[0];
    expect(launchSubnets(s)).toEqual(vpc.publicSubnets.map((x) => value(s, x.subnetId)));
    expect(ni.AssociatePublicIpAddress).toBe(true);
  });

  describe('imported with Vpc.fromVpcAttributes', () => {
    const attrs = {
      vpcId: 'vpc-0abc',
      availabilityZones: ['eu-west-1a', 'eu-west-1b'],
      publicSubnetIds: ['subnet-pub1', 'subnet-pub2'],
      privateSubnetIds: ['subnet-priv1', 'subnet-priv2'],
    };

    test('vpcSubnets public: launches in those subnet IDs with a public IP, and creates no network resources', () => {
      const s = synth({}, (stack) => ({
        vpc: ec2.Vpc.fromVpcAttributes(stack, 'Imported', attrs),
        vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      }));
      const ni = launchParameters(s).NetworkInterfaces[0];
      expect(launchSubnets(s)).toEqual(['subnet-pub1', 'subnet-pub2']);
      expect(ni.AssociatePublicIpAddress).toBe(true);
      for (const type of ['AWS::EC2::VPC', 'AWS::EC2::Subnet', 'AWS::EC2::VPCEndpoint', 'AWS::EC2::InternetGateway']) {
        s.template.resourceCountIs(type, 0);
      }
      s.template.hasResourceProperties('AWS::EC2::SecurityGroup', { VpcId: 'vpc-0abc' });
      const subnetArns = roleStatements(s, s.pipeline.stateMachine.role)
        .filter((st) => hasAction(st, 'ec2:RunInstances'))
        .flatMap((st) => st.Resource)
        .filter((r) => r.includes(':subnet/'))
        .sort();
      expect(subnetArns).toEqual([ec2Arn('subnet/subnet-pub1'), ec2Arn('subnet/subnet-pub2')]);
    });

    test('vpcSubnets private: no public IP by default', () => {
      const s = synth({}, (stack) => ({
        vpc: ec2.Vpc.fromVpcAttributes(stack, 'Imported', attrs),
        vpcSubnets: { subnets: [ec2.Subnet.fromSubnetId(stack, 'Priv', 'subnet-priv2')] },
      }));
      const ni = launchParameters(s).NetworkInterfaces[0];
      expect(launchSubnets(s)).toEqual(['subnet-priv2']);
      expect(ni.AssociatePublicIpAddress).toBe(false);
    });

    test('assignPublicIp: true is honored in private subnets', () => {
      const s = synth({ assignPublicIp: true }, (stack) => ({ vpc: ec2.Vpc.fromVpcAttributes(stack, 'Imported', attrs) }));
      const ni = launchParameters(s).NetworkInterfaces[0];
      expect(launchSubnets(s)).toEqual(['subnet-priv1', 'subnet-priv2']);
      expect(ni.AssociatePublicIpAddress).toBe(true);
    });

    test('assignPublicIp: false is honored in public subnets', () => {
      const s = synth({ assignPublicIp: false }, (stack) => ({
        vpc: ec2.Vpc.fromVpcAttributes(stack, 'Imported', attrs),
        vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      }));
      const ni = launchParameters(s).NetworkInterfaces[0];
      expect(launchSubnets(s)).toEqual(['subnet-pub1', 'subnet-pub2']);
      expect(ni.AssociatePublicIpAddress).toBe(false);
    });
  });
});
