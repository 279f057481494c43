/**
 * parts/schedule: schedule. The EventBridge Scheduler schedule, its input and role, and the checks of its fixed input
 * (the rules the state machine applies to any execution's input).
 */
import { Duration, Lazy, TimeZone } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { JobInput, ShellScriptPipelineProps } from '../../src';
import { RunSchedule, SCHEDULE_RETRY_ATTEMPTS } from '../../src/parts/schedule';
import { cfn, expectRejected, lazySynth, Synthesized } from '../support/template';

const defaults = lazySynth({});
const daily = scheduler.ScheduleExpression.rate(Duration.days(1));

describe('checks of the fixed input', () => {
  const problems = (input: JobInput) => RunSchedule.problems({ schedule: { expression: daily, input } });

  test('accept every value at the edge of its range', () => {
    expect(problems({ script: 'jobs/nightly.sh', args: ['a'], env: { _OK: '1', STAGE2: 'x' } })).toEqual([]);
    expect(problems({ userInput: 'echo hi' })).toEqual([]);
    expect(problems({ script: 'a.sh', args: Array(1000).fill('a') })).toEqual([]);
  });

  test('refuse more than 1000 args, like the state machine', () => {
    expect(problems({ script: 'a.sh', args: Array(1001).fill('a') })).toEqual(["'schedule.input.args' may hold at most 1000 strings, got 1001"]);
  });

  test('do not check values that are tokens', () => {
    expect(problems({ script: Lazy.string({ produce: () => 'pipeline/x.sh' }) })).toEqual([]);
  });

  const scheduled = (input: JobInput): ShellScriptPipelineProps => ({ schedule: { expression: daily, input } });

  test('the construct fails when schedule.input has both script and userInput', () => {
    expectRejected(scheduled({ script: 'jobs/a.sh', userInput: 'echo hi' }), /'schedule\.input' needs exactly one of 'script' .* or 'userInput'/);
  });

  test('the construct fails when schedule.input has neither script nor userInput', () => {
    expectRejected(scheduled({ args: ['a'] }), /'schedule\.input' needs exactly one of 'script' \(a key in the job bucket\) or 'userInput' \(bash text\)/);
  });

  test("the construct fails when schedule.input.script is under 'pipeline/'", () => {
    expectRejected(scheduled({ script: 'pipeline/tasks/x.sh' }), /'schedule\.input\.script' must be a key in the job bucket outside 'pipeline\/'.*got 'pipeline\/tasks\/x\.sh'/);
  });

  test('the construct fails when schedule.input.userInput is empty', () => {
    expectRejected(scheduled({ userInput: '' }), /'schedule\.input\.userInput' must not be empty/);
  });

  test('the construct fails when schedule.input.env has a name that is not an environment variable name', () => {
    expectRejected(scheduled({ script: 'jobs/a.sh', env: { 'OK': '1', '1BAD': 'x' } }), /'schedule\.input\.env' has '1BAD', which is not an environment variable name/);
  });
});

describe('schedule', () => {
  const nightly = lazySynth({
    schedule: {
      expression: scheduler.ScheduleExpression.cron({ hour: '2', minute: '0', timeZone: TimeZone.EUROPE_LONDON }),
      input: { script: 'jobs/nightly.sh', args: ['--full'] },
    },
  });
  const sixHourly = lazySynth({
    schedule: {
      expression: scheduler.ScheduleExpression.rate(Duration.hours(6)),
      input: { userInput: 'echo hello', env: { STAGE: 'prod' } },
      enabled: false,
    },
  });

  function scheduleOf(s: Synthesized): any {
    const schedules = Object.values<any>(s.template.findResources('AWS::Scheduler::Schedule'));
    expect(schedules).toHaveLength(1);
    return schedules[0].Properties;
  }

  test('default: no schedule', () => {
    defaults().template.resourceCountIs('AWS::Scheduler::Schedule', 0);
    expect(defaults().pipeline.schedule).toBeUndefined();
  });

  test('a cron expression with a time zone, enabled by default, starting this state machine', () => {
    const s = nightly();
    s.template.resourceCountIs('AWS::Scheduler::Schedule', 1);
    s.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 2 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/London',
      State: 'ENABLED',
      Target: Match.objectLike({ Arn: cfn(s, s.pipeline.stateMachine.stateMachineArn) }),
    });
    expect(s.pipeline.schedule).toBeDefined();
  });

  test('the input is the JSON of the given input, with only the fields that are set', () => {
    expect(JSON.parse(scheduleOf(nightly()).Target.Input)).toEqual({ script: 'jobs/nightly.sh', args: ['--full'] });
    expect(JSON.parse(scheduleOf(sixHourly()).Target.Input)).toEqual({ userInput: 'echo hello', env: { STAGE: 'prod' } });
  });

  test('a rate expression, created DISABLED with enabled: false', () => {
    const s = sixHourly();
    s.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(6 hours)',
      State: 'DISABLED',
      Target: Match.objectLike({ Arn: cfn(s, s.pipeline.stateMachine.stateMachineArn) }),
    });
  });

  test('the schedule role may only start executions of this state machine', () => {
    const s = nightly();
    const roleArn = scheduleOf(s).Target.RoleArn;
    expect(Object.keys(roleArn)).toEqual(['Fn::GetAtt']);
    const roleId: string = roleArn['Fn::GetAtt'][0];
    const role = s.json.Resources[roleId];
    expect(role.Type).toBe('AWS::IAM::Role');
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    expect(role.Properties.Policies).toBeUndefined();
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      expect.objectContaining({ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { Service: 'scheduler.amazonaws.com' } }),
    ]);
    const policies = Object.values<any>(s.template.findResources('AWS::IAM::Policy', { Properties: { Roles: Match.arrayWith([{ Ref: roleId }]) } }));
    expect(policies.flatMap((p) => p.Properties.PolicyDocument.Statement)).toEqual([
      { Effect: 'Allow', Action: 'states:StartExecution', Resource: cfn(s, s.pipeline.stateMachine.stateMachineArn) },
    ]);
  });
});

test('a scheduled start is retried a few times only (SCHEDULE_RETRY_ATTEMPTS), not for a day', () => {
  const s: Synthesized = lazySynth({ schedule: { expression: daily, input: { script: 'jobs/a.sh' } } })();
  expect(SCHEDULE_RETRY_ATTEMPTS).toBe(3);
  s.template.hasResourceProperties('AWS::Scheduler::Schedule', {
    Target: Match.objectLike({ RetryPolicy: Match.objectLike({ MaximumRetryAttempts: SCHEDULE_RETRY_ATTEMPTS }) }),
  });
  expect(defaults().pipeline.schedule).toBeUndefined();
  expect(cfn(s, s.pipeline.schedule!.scheduleArn)).toBeDefined();
});
