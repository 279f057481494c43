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
  id: 'Nightly',
  jobTimeout: Duration.hours(1),
  heartbeatTimeout: Duration.minutes(5),
  hasVpc: false,
  hasVpcSubnets: false,
  osIsLinux: true,
};

function check(overrides: Partial<PropsToValidate>): () => void {
  return () => validateProps({ ...VALID, ...overrides });
}

/** The message validateProps throws, or undefined. */
function messageOf(overrides: Partial<PropsToValidate>): string | undefined {
  try {
    validateProps({ ...VALID, ...overrides });
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

describe('validateProps', () => {
  test('accepts the defaults', () => {
    expect(check({})).not.toThrow();
  });

  test('accepts every value at the edge of its range', () => {
    expect(
      check({
        jobTimeout: Duration.days(365),
        heartbeatTimeout: Duration.seconds(1),
        vpcCidr: '10.0.0.0/16',
        maxAzs: 6,
        notificationEmail: 'ops@example.com',
        rootVolumeSizeGiB: 16_384,
        runArtifactsRetentionDays: 1,
      }),
    ).not.toThrow();
    expect(check({ jobTimeout: Duration.seconds(2), heartbeatTimeout: Duration.seconds(1), vpcCidr: '192.168.0.0/24', maxAzs: 1, rootVolumeSizeGiB: 1 })).not.toThrow();
  });

  test('prefixes the message with the construct ID', () => {
    expect(check({ osIsLinux: false })).toThrow(/^ShellScriptPipeline 'Nightly': /);
  });

  describe('jobTimeout and heartbeatTimeout', () => {
    test('fails when heartbeatTimeout is longer than jobTimeout, naming both and the fix', () => {
      expect(check({ jobTimeout: Duration.minutes(5), heartbeatTimeout: Duration.minutes(10) })).toThrow(
        /'heartbeatTimeout' \(600s\) must be shorter than 'jobTimeout' \(300s\).*lower heartbeatTimeout or raise jobTimeout/,
      );
    });

    test('fails when heartbeatTimeout equals jobTimeout', () => {
      expect(check({ jobTimeout: Duration.minutes(5), heartbeatTimeout: Duration.seconds(300) })).toThrow(
        /'heartbeatTimeout' \(300s\) must be shorter than 'jobTimeout' \(300s\)/,
      );
    });

    test('accepts a heartbeatTimeout one second shorter than jobTimeout', () => {
      expect(check({ jobTimeout: Duration.seconds(301), heartbeatTimeout: Duration.seconds(300) })).not.toThrow();
    });

    test('fails when jobTimeout is under 1 second', () => {
      expect(check({ jobTimeout: Duration.millis(500), heartbeatTimeout: Duration.seconds(1) })).toThrow(
        /'jobTimeout' must be a whole number of seconds of at least 1, got Duration\.millis\(500\)/,
      );
      expect(check({ jobTimeout: Duration.seconds(0), heartbeatTimeout: Duration.seconds(1) })).toThrow(/'jobTimeout' must be a whole number/);
    });

    test('fails when jobTimeout is a fractional number of seconds', () => {
      expect(check({ jobTimeout: Duration.millis(1500), heartbeatTimeout: Duration.seconds(1) })).toThrow(
        /'jobTimeout' must be a whole number of seconds of at least 1, got Duration\.millis\(1500\)/,
      );
    });

    test('fails when jobTimeout is over 365 days', () => {
      expect(check({ jobTimeout: Duration.days(366) })).toThrow(/'jobTimeout' must be at most 365 days \(Step Functions' limit\), got 31622400 seconds/);
      expect(check({ jobTimeout: Duration.seconds(31_536_001) })).toThrow(/'jobTimeout' must be at most 365 days/);
    });

    test('fails when heartbeatTimeout is under 1 second or fractional', () => {
      expect(check({ heartbeatTimeout: Duration.millis(500) })).toThrow(/'heartbeatTimeout' must be a whole number of seconds of at least 1/);
      expect(check({ heartbeatTimeout: Duration.millis(2500) })).toThrow(/'heartbeatTimeout' must be a whole number of seconds of at least 1/);
    });
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
      expect(check({ maxAttempts: 20, retryDelay: Duration.hours(24), spotMaxPrice: '0.05' })).not.toThrow();
      expect(check({ maxAttempts: 2, retryDelay: Duration.seconds(0), spotMaxPrice: '1' })).not.toThrow();
      expect(check({ maxAttempts: 1, retryDelay: Duration.seconds(0) })).not.toThrow();
      expect(check({ hasNotificationTopic: true, hasNotificationKey: false })).not.toThrow();
      expect(check({ scheduleInput: { script: 'jobs/nightly.sh', args: ['a'], env: { _OK: '1', STAGE2: 'x' } } })).not.toThrow();
      expect(check({ scheduleInput: { userInput: 'echo hi' } })).not.toThrow();
      expect(check({ bucketPrefixes: { 'staging.outputPrefix': '/results/', 'scriptsPrefix': 'pipelines/' } })).not.toThrow();
    });

    test('a problem with a new prop is listed with the others, one per line', () => {
      const message = messageOf({ maxAttempts: 0, spotMaxPrice: 'cheap', scheduleInput: {}, bucketPrefixes: { scriptsPrefix: 'pipeline/' } });
      const problems = message!.split('\n').slice(1);
      expect(problems).toHaveLength(4);
      for (const prop of ["'maxAttempts'", "'spot.maxPrice'", "'schedule.input'", "'scriptsPrefix'"]) {
        expect(problems.filter((l) => l.startsWith(`  - ${prop}`))).toHaveLength(1);
      }
    });

    test('does not check values that are tokens', () => {
      expect(
        check({
          maxAttempts: Token.asNumber(Lazy.number({ produce: () => 0 })),
          retryDelay: Duration.seconds(Lazy.number({ produce: () => 0.5 })),
          spotMaxPrice: Lazy.string({ produce: () => 'cheap' }),
          scheduleInput: { script: Lazy.string({ produce: () => 'pipeline/x.sh' }) },
          bucketPrefixes: { scriptsPrefix: Lazy.string({ produce: () => 'pipeline/' }) },
        }),
      ).not.toThrow();
    });
  });

  test('lists several problems in one error, one per line', () => {
    const message = messageOf({
      jobTimeout: Duration.minutes(1),
      hasVpc: true,
      vpcCidr: 'banana',
      notificationEmail: 'a@b',
      rootVolumeSizeGiB: 0,
      runArtifactsRetentionDays: 0,
      osIsLinux: false,
    });
    expect(message).toBeDefined();
    const lines = message!.split('\n');
    expect(lines[0]).toBe("ShellScriptPipeline 'Nightly': ");
    const problems = lines.slice(1);
    expect(problems.every((l) => l.startsWith('  - '))).toBe(true);
    for (const prop of ["'heartbeatTimeout'", "'vpcCidr' (for a new VPC)", "'vpcCidr' must be", "'notificationEmail'", "'rootVolumeSize'", "'runArtifactsRetention'", "'machineImage'"]) {
      expect(problems.filter((l) => l.includes(prop))).toHaveLength(1);
    }
    expect(problems).toHaveLength(7);
  });

  test('does not check values that are tokens', () => {
    const num = (n: number) => Token.asNumber(Lazy.number({ produce: () => n }));
    expect(
      check({
        jobTimeout: Duration.seconds(num(0)),
        heartbeatTimeout: Duration.seconds(num(99999)),
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

  test('fails when heartbeatTimeout is longer than jobTimeout', () => {
    expectRejected({ jobTimeout: Duration.minutes(2), heartbeatTimeout: Duration.minutes(3) }, /'heartbeatTimeout' \(180s\) must be shorter than 'jobTimeout' \(120s\)/);
  });

  test('fails when heartbeatTimeout equals jobTimeout', () => {
    expectRejected({ jobTimeout: Duration.minutes(10), heartbeatTimeout: Duration.minutes(10) }, /'heartbeatTimeout' \(600s\) must be shorter than 'jobTimeout'/);
  });

  test('fails when jobTimeout is shorter than the default heartbeatTimeout', () => {
    expectRejected({ jobTimeout: Duration.minutes(5) }, /'heartbeatTimeout' \(300s\) must be shorter than 'jobTimeout' \(300s\).*raise jobTimeout/);
  });

  test('fails when jobTimeout is under 1 second', () => {
    expectRejected({ jobTimeout: Duration.millis(500), heartbeatTimeout: Duration.seconds(1) }, /'jobTimeout' must be a whole number of seconds/);
  });

  test('fails when jobTimeout is fractional', () => {
    expectRejected({ jobTimeout: Duration.millis(90_500) }, /'jobTimeout' must be a whole number of seconds of at least 1, got Duration\.millis\(90500\)/);
  });

  test('fails when jobTimeout is over 365 days', () => {
    expectRejected({ jobTimeout: Duration.days(400) }, /'jobTimeout' must be at most 365 days/);
  });

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

    test.each([0, 21, 1.5])('fails when maxAttempts is %s', (maxAttempts) => {
      expectRejected({ maxAttempts }, new RegExp(`'maxAttempts' must be a whole number from 1 to 20, got ${maxAttempts}`));
    });

    test.each([Duration.millis(1500), Duration.millis(500)])('fails when retryDelay is not a whole number of seconds: %s', (retryDelay) => {
      expectRejected(
        { maxAttempts: 3, retryDelay },
        new RegExp(`'retryDelay' must be a whole number of seconds from 0 to 24 hours, got Duration\\.millis\\(${retryDelay.toMilliseconds()}\\)`),
      );
    });

    test('fails when retryDelay is over 24 hours', () => {
      expectRejected({ maxAttempts: 3, retryDelay: Duration.hours(25) }, /'retryDelay' must be a whole number of seconds from 0 to 24 hours, got Duration\.hours\(25\)/);
      expectRejected({ maxAttempts: 3, retryDelay: Duration.seconds(86_401) }, /'retryDelay' must be a whole number of seconds from 0 to 24 hours/);
    });

    test('fails when retryDelay is set with a single attempt', () => {
      expectRejected({ maxAttempts: 1, retryDelay: Duration.seconds(30) }, /'retryDelay' has no effect with one attempt; set 'maxAttempts' above 1 or remove 'retryDelay'/);
      expectRejected({ retryDelay: Duration.minutes(5) }, /'retryDelay' has no effect with one attempt/);
    });

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

    test('jobTimeout and heartbeatTimeout from CloudFormation parameters', () => {
      const { json } = synth({}, (stack) => ({
        jobTimeout: Duration.seconds(Token.asNumber(new CfnParameter(stack, 'JobSeconds', { type: 'Number' }).valueAsNumber)),
        heartbeatTimeout: Duration.seconds(Token.asNumber(new CfnParameter(stack, 'HeartbeatSeconds', { type: 'Number' }).valueAsNumber)),
      }));
      const definitions = Object.values<any>(json.Resources)
        .filter((r) => r.Type === 'AWS::StepFunctions::StateMachine')
        .map((r) => JSON.stringify(r.Properties.DefinitionString));
      expect(definitions.some((d) => d.includes('{"Ref":"JobSeconds"}') && d.includes('{"Ref":"HeartbeatSeconds"}'))).toBe(true);
    });

    test('Lazy durations, even ones that resolve to values a literal would fail with', () => {
      expect(() =>
        synth({
          jobTimeout: Duration.seconds(Lazy.number({ produce: () => 60 })),
          heartbeatTimeout: Duration.seconds(Lazy.number({ produce: () => 600 })),
          runArtifactsRetention: Duration.days(Lazy.number({ produce: () => 30 })),
        }),
      ).not.toThrow();
    });
  });

  test('fails when vpcCidr is a token, naming the prop', () => {
    // ec2.Vpc cannot split a CIDR it does not know, so a token vpcCidr can never work; the error should say which prop.
    expectRejected((stack) => ({ vpcCidr: new CfnParameter(stack, 'Cidr', { type: 'String' }).valueAsString }), /'vpcCidr'/);
  });
});
