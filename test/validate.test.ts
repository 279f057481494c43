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


function check(props: PropsToValidate): () => void {
  return () => {
    const problems = validateProps(props);
    if (problems.length > 0) throw new Error(problems.join('\n'));
  };
}

describe('validateProps', () => {
  test('accepts the defaults', () => {
    expect(check({})).not.toThrow();
  });

  describe('Data Pipeline parity props', () => {
    test('accepts every value at the edge of its range', () => {
      expect(check({ scheduleInput: { script: 'jobs/nightly.sh', args: ['a'], env: { _OK: '1', STAGE2: 'x' } } })).not.toThrow();
      expect(check({ scheduleInput: { userInput: 'echo hi' } })).not.toThrow();
      expect(check({ bucketPrefixes: { 'staging.outputPrefix': '/results/', 'scriptsPrefix': 'pipelines/' } })).not.toThrow();
    });

    test('does not check values that are tokens', () => {
      expect(
        check({
          scheduleInput: { script: Lazy.string({ produce: () => 'pipeline/x.sh' }) },
          bucketPrefixes: { scriptsPrefix: Lazy.string({ produce: () => 'pipeline/' }) },
        }),
      ).not.toThrow();
    });
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

  describe('Data Pipeline parity props', () => {
    const daily = scheduler.ScheduleExpression.rate(Duration.days(1));
    const scheduled = (input: JobInput): ShellScriptPipelineProps => ({ schedule: { expression: daily, input } });

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
});
