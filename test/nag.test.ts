/**
 * cdk-nag 3 AwsSolutions over whole stacks: no unacknowledged findings with every feature, acknowledgements scoped to
 * the pipeline, and findings the user introduces still reported. (The shared BucketDeployment handler: test/parts/scripts.test.ts.)
 */
import * as path from 'path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { ShellScriptPipeline, ShellScriptPipelineProps, TaskHandoff } from '../src';
import { acknowledgements, nag, readable } from './support/nag';
import { TEST_ENV } from './support/template';

describe('cdk-nag AwsSolutions pack', () => {
  test.each<[string, (s: Stack) => ShellScriptPipelineProps]>([
    ['defaults', () => ({})],
    ['with email', () => ({ notificationEmail: 'ops@example.com' })],
    [
      'existing VPC with private subnets',
      (s) => {
        const vpc = new ec2.Vpc(s, 'Existing', { natGateways: 1, flowLogs: { all: {} } });
        return { vpc };
      },
    ],
  ])('has no unacknowledged findings: %s (account and region known)', (_name, props) => {
    const stack = new Stack(new App(), 'NagStack', { env: TEST_ENV });
    new ShellScriptPipeline(stack, 'Nightly', props(stack));
    const report = nag(stack);
    expect(readable(report)).toEqual([]);
    expect(report.success).toBe(true);
  });

  test.each<[string, (s: Stack) => ShellScriptPipelineProps]>([
    ['activity mode', () => ({ taskHandoff: TaskHandoff.ACTIVITY })],
    ['Spot with retries', () => ({ maxAttempts: 3, spot: { maxPrice: '0.01' } })],
    [
      'staging, job logs, a failure alarm and a scripts folder',
      () => ({
        staging: { inputPrefixes: ['input/'], outputPrefix: 'output/' },
        jobLogRetention: logs.RetentionDays.ONE_MONTH,
        failureAlarm: true,
        scriptsPath: path.join(__dirname, 'fixtures', 'scripts'),
      }),
    ],
    ['a concurrency limit (maxConcurrentJobs)', () => ({ maxConcurrentJobs: 10 })],
    [
      'a schedule',
      () => ({ schedule: { expression: scheduler.ScheduleExpression.rate(Duration.hours(6)), input: { script: 'jobs/nightly.sh' } } }),
    ],
  ])('has no unacknowledged findings with the optional features: %s', (_name, props) => {
    const stack = new Stack(new App(), 'NagStack', { env: TEST_ENV });
    new ShellScriptPipeline(stack, 'Nightly', props(stack));
    expect(readable(nag(stack))).toEqual([]);
  });

  test('has no unacknowledged findings in an environment-agnostic stack', () => {
    const stack = new Stack(new App(), 'NagStack');
    new ShellScriptPipeline(stack, 'Nightly', {});
    const report = nag(stack);
    expect(readable(report)).toEqual([]);
  });

  test('still reports findings a user introduces (acknowledgements are scoped, not global)', () => {
    const stack = new Stack(new App(), 'NagStack', { env: TEST_ENV });
    new ShellScriptPipeline(stack, 'Nightly', {});
    new ec2.Vpc(stack, 'UnloggedVpc', { natGateways: 0 }); // a VPC of the user's without flow logs
    const report = nag(stack);
    expect(readable(report)).toEqual([expect.stringMatching(/^AwsSolutions-VPC7 at NagStack\/UnloggedVpc/)]);
  });

  test('every acknowledgement carries a reason and sits on a construct of the pipeline', () => {
    const stack = new Stack(new App(), 'NagStack', { env: TEST_ENV });
    new ShellScriptPipeline(stack, 'Nightly', {});
    const acks = acknowledgements(stack);
    expect(acks.length).toBeGreaterThan(0);
    for (const [constructPath, id, reason] of acks) {
      expect(constructPath.startsWith('NagStack/Nightly/')).toBe(true);
      expect(id).toMatch(/^AwsSolutions-/);
      expect(reason.length).toBeGreaterThan(60);
    }
    // No blanket acknowledgement of a whole rule where findings are granular.
    expect(acks.map(([, id]) => id)).not.toContain('AwsSolutions-IAM5');
    // The flow-log acknowledgement only exists for the VPC the construct creates.
    expect(acks.filter(([, id]) => id === 'AwsSolutions-VPC7')).toHaveLength(1);
  });

  test('does not acknowledge flow logs on a VPC the user brings', () => {
    const stack = new Stack(new App(), 'NagStack', { env: TEST_ENV });
    const vpc = new ec2.Vpc(stack, 'Existing', { natGateways: 0 });
    new ShellScriptPipeline(stack, 'Nightly', { vpc });
    expect(acknowledgements(stack).filter(([, id]) => id === 'AwsSolutions-VPC7')).toHaveLength(0);
    expect(readable(nag(stack))).toEqual([expect.stringMatching(/^AwsSolutions-VPC7 at NagStack\/Existing/)]);
  });
});
