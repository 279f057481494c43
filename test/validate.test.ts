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


/** Props that pass: the construct's defaults. */
const VALID: PropsToValidate = {
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
        rootVolumeSizeGiB: 16_384,
      }),
    ).not.toThrow();
    expect(check({ rootVolumeSizeGiB: 1 })).not.toThrow();
  });

  describe('other props', () => {

    test.each([0, 0.5, 16_385])('fails when rootVolumeSize is %s GiB', (size) => {
      expect(check({ rootVolumeSizeGiB: size })).toThrow(new RegExp(`'rootVolumeSize' must be a whole number of GiB from 1 to 16384, got ${size}`));
    });

    test('fails when the image is not Linux', () => {
      expect(check({ osIsLinux: false })).toThrow(/'machineImage' must be a Linux image: the bootstrap is a bash script/);
    });
  });

  describe('Data Pipeline parity props', () => {
    test('accepts every value at the edge of its range', () => {
      expect(check({ spotMaxPrice: '0.05' })).not.toThrow();
      expect(check({ spotMaxPrice: '1' })).not.toThrow();
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
        rootVolumeSizeGiB: num(0),
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

  test('fails when the machine image is Windows', () => {
    expectRejected(
      { machineImage: ec2.MachineImage.latestWindows(ec2.WindowsVersion.WINDOWS_SERVER_2022_ENGLISH_FULL_BASE) },
      /'machineImage' must be a Linux image: the bootstrap is a bash script/,
    );
  });

  describe('Data Pipeline parity props', () => {
    const daily = scheduler.ScheduleExpression.rate(Duration.days(1));
    const scheduled = (input: JobInput): ShellScriptPipelineProps => ({ schedule: { expression: daily, input } });

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
  });
});
