/**
 * Prop validation: `validateProps` on its own, and the construct rejecting each bad prop at synth with a message
 * that names the prop and the fix.
 */
import { App, CfnParameter, Duration, Lazy, Size, Stack, Token } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import { JobInput, ShellScriptPipeline, ShellScriptPipelineProps } from '../src';
import { synth, TEST_ENV } from './support/template';
import { PropsToValidate, validateProps } from '../src/private/validate';

const SIX_AZS = ['a', 'b', 'c', 'd', 'e', 'f'].map((z) => `${TEST_ENV.region}${z}`);

/** Props that pass: the construct's defaults. */
const VALID: PropsToValidate = {
  hasVpc: false,
  hasVpcSubnets: false,
  osIsLinux: true,
};

function check(overrides: Partial<PropsToValidate>): () => void {
  return () => {
    const problems = validateProps({ ...VALID, ...overrides });
    if (problems.length > 0) throw new Error(problems.join('\n'));
  };
}

/** The problems validateProps finds, one per line, or undefined. */
function messageOf(overrides: Partial<PropsToValidate>): string | undefined {
  const problems = validateProps({ ...VALID, ...overrides });
  return problems.length > 0 ? problems.join('\n') : undefined;
}

describe('validateProps', () => {
  test('accepts the defaults', () => {
    expect(check({})).not.toThrow();
  });

  test('accepts every value at the edge of its range', () => {
    expect(
      check({
        vpcCidr: '10.0.0.0/16',
        maxAzs: 6,
        notificationEmail: 'ops@example.com',
        rootVolumeSizeGiB: 16_384,
        runArtifactsRetentionDays: 1,
      }),
    ).not.toThrow();
    expect(check({ vpcCidr: '192.168.0.0/24', maxAzs: 1, rootVolumeSizeGiB: 1 })).not.toThrow();
  });

  describe('network', () => {
    test("fails when both 'vpc' and 'vpcCidr' are set", () => {
      expect(check({ hasVpc: true, vpcCidr: '10.0.0.0/16' })).toThrow(/set either 'vpc' \(an existing VPC\) or 'vpcCidr' \(for a new VPC\), not both/);
    });

    test("fails when 'maxAzs' is set with 'vpc'", () => {
      expect(check({ hasVpc: true, maxAzs: 2 })).toThrow(/'maxAzs' only applies to the VPC the construct creates; remove it or remove 'vpc'/);
    });

    test("fails when 'vpcSubnets' is set without 'vpc'", () => {
      expect(check({ hasVpcSubnets: true })).toThrow(/'vpcSubnets' selects subnets of an existing 'vpc'; pass 'vpc' too, or remove 'vpcSubnets'/);
    });

    test("accepts 'vpc' with 'vpcSubnets'", () => {
      expect(check({ hasVpc: true, hasVpcSubnets: true })).not.toThrow();
    });

    test.each(['banana', '10.0.0.0', '300.0.0.0/16', '10.0.0/16', '10.0.0.0/'])('fails when vpcCidr is unparsable: %s', (cidr) => {
      expect(messageOf({ vpcCidr: cidr })).toContain(`'vpcCidr' must be an IPv4 CIDR block like 10.0.0.0/16, got '${cidr}'`);
    });

    test.each(['10.0.0.0/25', '10.0.0.0/28'])('fails when vpcCidr is too small: %s', (cidr) => {
      expect(check({ vpcCidr: cidr })).toThrow(/'vpcCidr' must have a prefix from \/16 to \/24/);
    });

    test.each(['10.0.0.0/8', '10.0.0.0/15'])('fails when vpcCidr is too big: %s', (cidr) => {
      expect(check({ vpcCidr: cidr })).toThrow(/'vpcCidr' must have a prefix from \/16 to \/24 \(AWS allows \/16 at most/);
    });

    test.each([0, 7, 1.5])('fails when maxAzs is %s', (maxAzs) => {
      expect(check({ maxAzs })).toThrow(/'maxAzs' must be a whole number from 1 to 6/);
    });
  });

  describe('other props', () => {
    test.each(['not-an-email', 'a@b', 'a@b.com,c@d.com', 'a@b.com c@d.com', 'a@b.com;c@d.com', ''])(
      'fails when notificationEmail is malformed: %p',
      (email) => {
        expect(messageOf({ notificationEmail: email })).toContain(`'notificationEmail' must be one email address like ops@example.com, got '${email}'`);
      },
    );

    test.each([0, 0.5, 16_385])('fails when rootVolumeSize is %s GiB', (size) => {
      expect(check({ rootVolumeSizeGiB: size })).toThrow(new RegExp(`'rootVolumeSize' must be a whole number of GiB from 1 to 16384, got ${size}`));
    });

    test.each([0, 1.5])('fails when runArtifactsRetention is %s days', (days) => {
      expect(check({ runArtifactsRetentionDays: days })).toThrow(
        new RegExp(`'runArtifactsRetention' must be a whole number of days of at least 1, got ${days}`),
      );
    });

    test('fails when the image is not Linux', () => {
      expect(check({ osIsLinux: false })).toThrow(/'machineImage' must be a Linux image: the bootstrap is a bash script/);
    });
  });

  describe('Data Pipeline parity props', () => {
    test('accepts every value at the edge of its range', () => {
      expect(check({ spotMaxPrice: '0.05' })).not.toThrow();
      expect(check({ spotMaxPrice: '1' })).not.toThrow();
      expect(check({ hasNotificationTopic: true, hasNotificationKey: false })).not.toThrow();
      expect(check({ scheduleInput: { script: 'jobs/nightly.sh', args: ['a'], env: { _OK: '1', STAGE2: 'x' } } })).not.toThrow();
      expect(check({ scheduleInput: { userInput: 'echo hi' } })).not.toThrow();
      expect(check({ bucketPrefixes: { 'staging.outputPrefix': '/results/', 'scriptsPrefix': 'pipelines/' } })).not.toThrow();
    });

    test('does not check values that are tokens', () => {
      expect(
        check({
          spotMaxPrice: Lazy.string({ produce: () => 'cheap' }),
          scheduleInput: { script: Lazy.string({ produce: () => 'pipeline/x.sh' }) },
          bucketPrefixes: { scriptsPrefix: Lazy.string({ produce: () => 'pipeline/' }) },
        }),
      ).not.toThrow();
    });
  });

  test('does not check values that are tokens', () => {
    const num = (n: number) => Token.asNumber(Lazy.number({ produce: () => n }));
    expect(
      check({
        maxAzs: num(99),
        notificationEmail: Lazy.string({ produce: () => 'not-an-email' }),
        rootVolumeSizeGiB: num(0),
        runArtifactsRetentionDays: num(0),
      }),
    ).not.toThrow();
  });
});

describe('ShellScriptPipeline rejects bad props at synth', () => {
  /** Expects constructing the pipeline with `props` to throw an error of this construct matching every pattern. */
  function expectRejected(props: ShellScriptPipelineProps | ((stack: any) => ShellScriptPipelineProps), ...patterns: RegExp[]): void {
    let message = '';
    try {
      if (typeof props === 'function') synth({}, props);
      else synth(props);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^ShellScriptPipeline 'Nightly': /);
    for (const p of patterns) expect(message).toMatch(p);
  }
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

  test.each(['not-an-email', 'a@b', 'a@b.com,c@d.com'])('fails when notificationEmail is malformed: %s', (email) => {
    expectRejected({ notificationEmail: email }, new RegExp(`'notificationEmail' must be one email address like ops@example\\.com, got '${email.replace(/\./g, '\\.')}'`));
  });

  test('fails when rootVolumeSize is 0', () => {
    expectRejected({ rootVolumeSize: Size.gibibytes(0) }, /'rootVolumeSize' must be a whole number of GiB from 1 to 16384, got 0/);
  });

  test('fails when rootVolumeSize is a fractional number of GiB', () => {
    expectRejected({ rootVolumeSize: Size.gibibytes(0.5) }, /'rootVolumeSize' must be a whole number of GiB/);
  });

  test('fails when rootVolumeSize is given in MiB that are not whole GiB, naming the prop', () => {
    // Size.mebibytes(1536).toGibibytes() throws CDK's own conversion error before the props are validated.
    expectRejected({ rootVolumeSize: Size.mebibytes(1536) }, /'rootVolumeSize'/);
  });

  test('fails when runArtifactsRetention is 0 days', () => {
    expectRejected({ runArtifactsRetention: Duration.days(0) }, /'runArtifactsRetention' must be a whole number of days of at least 1, got 0/);
  });

  test('fails when runArtifactsRetention is not a whole number of days', () => {
    expectRejected({ runArtifactsRetention: Duration.hours(36) }, /'runArtifactsRetention' must be a whole number of days of at least 1, got 1\.5/);
  });

  test('fails when maxAzs is out of range', () => {
    expectRejected({ maxAzs: 0 }, /'maxAzs' must be a whole number from 1 to 6, got 0/);
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

  test('fails when the machine image is Windows', () => {
    expectRejected(
      { machineImage: ec2.MachineImage.latestWindows(ec2.WindowsVersion.WINDOWS_SERVER_2022_ENGLISH_FULL_BASE) },
      /'machineImage' must be a Linux image: the bootstrap is a bash script/,
    );
  });

  test('lists several problems at once in one error', () => {
    expectRejected(
      {
        jobTimeout: Duration.minutes(1),
        vpcCidr: 'banana',
        notificationEmail: 'not-an-email',
        rootVolumeSize: Size.gibibytes(0),
        runArtifactsRetention: Duration.days(0),
        vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      },
      /\n {2}- 'heartbeatTimeout'/,
      /\n {2}- 'vpcSubnets'/,
      /\n {2}- 'vpcCidr'/,
      /\n {2}- 'notificationEmail'/,
      /\n {2}- 'rootVolumeSize'/,
      /\n {2}- 'runArtifactsRetention'/,
    );
  });

  describe('Data Pipeline parity props', () => {
    const daily = scheduler.ScheduleExpression.rate(Duration.days(1));
    const scheduled = (input: JobInput): ShellScriptPipelineProps => ({ schedule: { expression: daily, input } });
    test('fails when notificationTopic and notificationKey are both set', () => {
      expectRejected(
        (stack) => ({
          notificationTopic: sns.Topic.fromTopicArn(stack, 'Mine', 'arn:aws:sns:eu-west-1:111111111111:mine'),
          notificationKey: new kms.Key(stack, 'Key'),
        }),
        /'notificationKey' encrypts the topic the construct creates; with 'notificationTopic', encrypt your own topic instead/,
      );
    });

    test('fails when spot.maxPrice is not a price', () => {
      expectRejected({ spot: { maxPrice: 'cheap' } }, /'spot\.maxPrice' must be a price in USD per hour like '0\.05', got 'cheap'/);
    });

    test('fails when schedule.input has both script and userInput', () => {
      expectRejected(scheduled({ script: 'jobs/a.sh', userInput: 'echo hi' }), /'schedule\.input' needs exactly one of 'script' .* or 'userInput'/);
    });

    test('fails when schedule.input has neither script nor userInput', () => {
      expectRejected(scheduled({ args: ['a'] }), /'schedule\.input' needs exactly one of 'script' \(a key in the job bucket\) or 'userInput' \(bash text\)/);
    });

    test("fails when schedule.input.script is under 'pipeline/'", () => {
      expectRejected(scheduled({ script: 'pipeline/tasks/x.sh' }), /'schedule\.input\.script' must be a key in the job bucket outside 'pipeline\/'.*got 'pipeline\/tasks\/x\.sh'/);
    });

    test('fails when schedule.input.userInput is empty', () => {
      expectRejected(scheduled({ userInput: '' }), /'schedule\.input\.userInput' must not be empty/);
    });

    test('fails when schedule.input.env has a name that is not an environment variable name', () => {
      expectRejected(scheduled({ script: 'jobs/a.sh', env: { 'OK': '1', '1BAD': 'x' } }), /'schedule\.input\.env' has '1BAD', which is not an environment variable name/);
    });

    test("fails when a staging input prefix is under 'pipeline/', naming which one", () => {
      expectRejected({ staging: { inputPrefixes: ['pipeline/x'] } }, /'staging\.inputPrefixes\[0\]' must be a prefix of the job bucket outside 'pipeline\/'.*got 'pipeline\/x'/);
      expectRejected({ staging: { inputPrefixes: ['in/', 'pipeline/x'] } }, /'staging\.inputPrefixes\[1\]' must be a prefix/);
    });

    test("fails when staging.outputPrefix climbs out with '..'", () => {
      expectRejected({ staging: { outputPrefix: '../up' } }, /'staging\.outputPrefix' must be a prefix of the job bucket outside 'pipeline\/' .*without '\.\.', got '\.\.\/up'/);
    });

    test("fails when scriptsPrefix is 'pipeline/'", () => {
      expectRejected({ scriptsPrefix: 'pipeline/' }, /'scriptsPrefix' must be a prefix of the job bucket outside 'pipeline\/'.*got 'pipeline\/'/);
    });
  });

  describe('values that are tokens are not rejected', () => {
    test('a notificationEmail from a CloudFormation parameter', () => {
      const { template } = synth({}, (stack) => ({
        notificationEmail: Token.asString(new CfnParameter(stack, 'Email', { type: 'String' }).valueAsString),
      }));
      template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: { Ref: 'Email' } });
    });
  });

  test('fails when vpcCidr is a token, naming the prop', () => {
    // ec2.Vpc cannot split a CIDR it does not know, so a token vpcCidr can never work; the error should say which prop.
    expectRejected((stack) => ({ vpcCidr: new CfnParameter(stack, 'Cidr', { type: 'String' }).valueAsString }), /'vpcCidr'/);
  });
});
