/**
 * parts/attempts: jobTimeout, heartbeatTimeout, maxAttempts and retryDelay. Their checks, the waiting step and the
 * execution timeout they set, the retry states, and attempts run in the local ASL interpreter.
 */
import { CfnParameter, Duration, Lazy, Token } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { Attempts, AttemptsProps } from '../../src/parts/attempts';
import { STATES } from '../../src/workflow/states';
import { taskFailure } from '../support/aws-fixtures';
import { awsError, runLocally } from '../support/local-sfn';
import { attemptHandlers, fails, instanceFor, notifications, ok } from '../support/run-handlers';
import { expectRejected, lazySynth, pauseState, runDefinition, runDefinitionOf, synth } from '../support/template';

/** The problems Attempts finds, joined (empty when none). */
const problemsOf = (props: AttemptsProps) => Attempts.problems(props).join('\n');
const check = (props: AttemptsProps) => () => {
  const problems = Attempts.problems(props);
  if (problems.length > 0) throw new Error(problems.join('\n'));
};

describe('checks', () => {
  test('accept the defaults and every value at the edge of its range', () => {
    expect(check({})).not.toThrow();
    expect(check({ jobTimeout: Duration.days(365), heartbeatTimeout: Duration.seconds(1) })).not.toThrow();
    expect(check({ jobTimeout: Duration.seconds(2), heartbeatTimeout: Duration.seconds(1) })).not.toThrow();
    expect(check({ maxAttempts: 20, retryDelay: Duration.hours(24) })).not.toThrow();
    expect(check({ maxAttempts: 2, retryDelay: Duration.seconds(0) })).not.toThrow();
    expect(check({ maxAttempts: 1, retryDelay: Duration.seconds(0) })).not.toThrow();
  });

  test('fail when heartbeatTimeout is longer than jobTimeout, naming both and the fix', () => {
    expect(check({ jobTimeout: Duration.minutes(5), heartbeatTimeout: Duration.minutes(10) })).toThrow(
      /'heartbeatTimeout' \(10 minutes\) must be shorter than 'jobTimeout' \(5 minutes\).*lower heartbeatTimeout or raise jobTimeout/,
    );
  });

  test('fail when heartbeatTimeout equals jobTimeout', () => {
    expect(check({ jobTimeout: Duration.minutes(5), heartbeatTimeout: Duration.seconds(300) })).toThrow(
      /'heartbeatTimeout' \(5 minutes\) must be shorter than 'jobTimeout' \(5 minutes\)/,
    );
  });

  test('accept a heartbeatTimeout one second shorter than jobTimeout', () => {
    expect(check({ jobTimeout: Duration.seconds(301), heartbeatTimeout: Duration.seconds(300) })).not.toThrow();
  });

  test('fail when jobTimeout is under 1 second', () => {
    expect(check({ jobTimeout: Duration.millis(500), heartbeatTimeout: Duration.seconds(1) })).toThrow(
      /'jobTimeout' must be a whole number of seconds of at least 1, got Duration\.millis\(500\)/,
    );
    expect(check({ jobTimeout: Duration.seconds(0), heartbeatTimeout: Duration.seconds(1) })).toThrow(/'jobTimeout' must be a whole number/);
  });

  test('fail when jobTimeout is a fractional number of seconds', () => {
    expect(check({ jobTimeout: Duration.millis(1500), heartbeatTimeout: Duration.seconds(1) })).toThrow(
      /'jobTimeout' must be a whole number of seconds of at least 1, got Duration\.millis\(1500\)/,
    );
  });

  test('fail when jobTimeout is over 365 days', () => {
    expect(check({ jobTimeout: Duration.days(366) })).toThrow(/'jobTimeout' must be at most 365 days \(Step Functions' limit\), got 31622400 seconds/);
    expect(check({ jobTimeout: Duration.seconds(31_536_001) })).toThrow(/'jobTimeout' must be at most 365 days/);
  });

  test('fail when heartbeatTimeout is under 1 second or fractional', () => {
    expect(check({ heartbeatTimeout: Duration.millis(500) })).toThrow(/'heartbeatTimeout' must be a whole number of seconds of at least 1/);
    expect(check({ heartbeatTimeout: Duration.millis(2500) })).toThrow(/'heartbeatTimeout' must be a whole number of seconds of at least 1/);
  });

  test('do not check values that are tokens', () => {
    const num = (n: number) => Token.asNumber(Lazy.number({ produce: () => n }));
    expect(problemsOf({ jobTimeout: Duration.seconds(num(0)), heartbeatTimeout: Duration.seconds(num(99999)) })).toBe('');
    expect(problemsOf({ maxAttempts: num(0), retryDelay: Duration.seconds(Lazy.number({ produce: () => 0.5 })) })).toBe('');
  });
});

describe('the construct rejects bad values at synth', () => {
  test('fails when heartbeatTimeout is longer than jobTimeout', () => {
    expectRejected({ jobTimeout: Duration.minutes(2), heartbeatTimeout: Duration.minutes(3) }, /'heartbeatTimeout' \(3 minutes\) must be shorter than 'jobTimeout' \(2 minutes\)/);
  });

  test('fails when heartbeatTimeout equals jobTimeout', () => {
    expectRejected({ jobTimeout: Duration.minutes(10), heartbeatTimeout: Duration.minutes(10) }, /'heartbeatTimeout' \(10 minutes\) must be shorter than 'jobTimeout'/);
  });

  test('fails when jobTimeout is shorter than the default heartbeatTimeout', () => {
    // The user set only jobTimeout: the message says the other value is the default, with its unit.
    expectRejected(
      { jobTimeout: Duration.minutes(5) },
      /the default 'heartbeatTimeout', 5 minutes, must be shorter than 'jobTimeout' \(5 minutes\).*set a shorter heartbeatTimeout or raise jobTimeout/,
    );
  });

  test('names the default jobTimeout when only heartbeatTimeout is set', () => {
    expectRejected({ heartbeatTimeout: Duration.hours(2) }, /'heartbeatTimeout' \(2 hours\) must be shorter than the default 'jobTimeout', 1 hour:/);
  });

  test('gives odd durations in seconds', () => {
    expectRejected({ jobTimeout: Duration.seconds(90), heartbeatTimeout: Duration.seconds(91) }, /'heartbeatTimeout' \(91 seconds\) must be shorter than 'jobTimeout' \(90 seconds\)/);
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
});

describe('jobTimeout and heartbeatTimeout', () => {
  test('default: the waiting step waits 1 hour with a 5-minute heartbeat; the run times out after 2 hours (capacity wait + job) and 30 minutes', () => {
    const s = synth();
    const pause = pauseState(s);
    expect(pause.HeartbeatSeconds).toBe(300);
    expect(pause.TimeoutSeconds).toBe(3600);
    expect(pause.Parameters.Body).toEqual(expect.objectContaining({ heartbeatSeconds: 300 }));
    expect(runDefinitionOf(s).TimeoutSeconds).toBe(2 * 3600 + 1800);
  });

  test('set the waiting step and the state machine timeout', () => {
    const s = synth({ jobTimeout: Duration.hours(2), heartbeatTimeout: Duration.minutes(10) });
    const pause = pauseState(s);
    expect(pause.TimeoutSeconds).toBe(7200);
    expect(pause.HeartbeatSeconds).toBe(600);
    expect(pause.Parameters.Body.heartbeatSeconds).toBe(600);
    expect(runDefinitionOf(s).TimeoutSeconds).toBe(2 * 7200 + 1800);
  });

  test('from CloudFormation parameters: the definitions refer to the parameters', () => {
    const { json } = synth({}, (stack) => ({
      jobTimeout: Duration.seconds(Token.asNumber(new CfnParameter(stack, 'JobSeconds', { type: 'Number' }).valueAsNumber)),
      heartbeatTimeout: Duration.seconds(Token.asNumber(new CfnParameter(stack, 'HeartbeatSeconds', { type: 'Number' }).valueAsNumber)),
    }));
    const definitions = Object.values<any>(json.Resources)
      .filter((r) => r.Type === 'AWS::StepFunctions::StateMachine')
      .map((r) => JSON.stringify(r.Properties.DefinitionString));
    expect(definitions.some((d) => d.includes('{"Ref":"JobSeconds"}') && d.includes('{"Ref":"HeartbeatSeconds"}'))).toBe(true);
  });

  test('a jobTimeout only known at deploy time: no execution timeout, and a warning that says what still applies', () => {
    const s = synth({}, (stack) => ({
      jobTimeout: Duration.seconds(Token.asNumber(new CfnParameter(stack, 'JobSeconds', { type: 'Number' }).valueAsNumber)),
    }));
    expect(runDefinitionOf(s).TimeoutSeconds).toBeUndefined();
    Annotations.fromStack(s.stack).hasWarning('/TestStack/Nightly', Match.stringLikeRegexp("'jobTimeout' is only known at deploy time.*hard cap still apply"));
  });

  test('Lazy durations, even ones that resolve to values a literal would fail with, are not rejected', () => {
    expect(() =>
      synth({
        jobTimeout: Duration.seconds(Lazy.number({ produce: () => 60 })),
        heartbeatTimeout: Duration.seconds(Lazy.number({ produce: () => 600 })),
        runArtifactsRetention: Duration.days(Lazy.number({ produce: () => 30 })),
      }),
    ).not.toThrow();
  });
});

describe('maxAttempts and retryDelay: the definition', () => {
  const defaults = lazySynth({});
  const three = lazySynth({ maxAttempts: 3, retryDelay: Duration.seconds(45) });

  test('default (1 attempt): no retry states, and the notifications say maxAttempts 1', () => {
    const states = runDefinitionOf(defaults()).States;
    expect(states[STATES.TRY_AGAIN]).toBeUndefined();
    expect(states[STATES.WAIT_BEFORE_RETRY]).toBeUndefined();
    expect(states[STATES.NEXT_ATTEMPT]).toBeUndefined();
    // The only Wait is the launch's own (back-off and capacity waits).
    expect(Object.entries<any>(states).filter(([, st]) => st.Type === 'Wait').map(([name]) => name)).toEqual([STATES.WAIT_TO_LAUNCH]);
    expect(states[STATES.NOTIFY_FAILURE].Parameters.Message.maxAttempts).toBe(1);
    expect(states[STATES.NOTIFY_SUCCESS].Parameters.Message.maxAttempts).toBe(1);
  });

  test('3 attempts, 45 s apart: a Wait of 45 s before the next attempt, while fewer than 3 attempts were made', () => {
    const states = runDefinitionOf(three()).States;
    expect(states[STATES.WAIT_BEFORE_RETRY]).toEqual({ Type: 'Wait', Seconds: 45, Next: STATES.NEXT_ATTEMPT });
    expect(states[STATES.TRY_AGAIN]).toMatchObject({
      Type: 'Choice',
      Choices: [
        {
          And: [
            { Variable: '$.attempt', NumericLessThan: 3 },
            { Not: { Variable: '$.error.Error', StringEquals: 'Terminate.Failed' } },
          ],
          Next: STATES.WAIT_BEFORE_RETRY,
        },
      ],
      Default: STATES.NOTIFY_FAILURE,
    });
  });

  test('3 attempts: both notification messages carry maxAttempts: 3 next to the attempt', () => {
    const states = runDefinitionOf(three()).States;
    for (const notify of [STATES.NOTIFY_FAILURE, STATES.NOTIFY_SUCCESS]) {
      expect({ notify, message: states[notify].Parameters.Message }).toMatchObject({
        notify,
        message: { 'maxAttempts': 3, 'attempt.$': '$.attempt' },
      });
    }
  });

  test('retryDelay defaults to 1 minute when there is more than one attempt', () => {
    const states = runDefinitionOf(synth({ maxAttempts: 2 })).States;
    expect(states[STATES.WAIT_BEFORE_RETRY]).toMatchObject({ Type: 'Wait', Seconds: 60 });
  });
});

describe('attempts, run in the local ASL interpreter (Data Pipeline maximumRetries, retryDelay)', () => {
  const definition = runDefinition({ maxAttempts: 3, retryDelay: Duration.seconds(30) });

  test('the execution timeout leaves every attempt its job timeout to wait for capacity and its whole job timeout, plus the delays and 30 minutes', () => {
    // 3 attempts × (3600 s waiting for capacity at most + 3600 s) + 2 delays × 30 s + 1800 s.
    expect(definition.TimeoutSeconds).toBe(3 * 2 * 3600 + 2 * 30 + 1800);
    expect(runDefinition().TimeoutSeconds).toBe(2 * 3600 + 1800);
  });

  test('the wait between attempts is retryDelay', () => {
    expect(definition.States[STATES.WAIT_BEFORE_RETRY]).toMatchObject({ Type: 'Wait', Seconds: 30 });
  });

  test('a failed attempt terminates its instance and a fresh one is launched; the third attempt succeeds', async () => {
    const r = await runLocally(definition, { script: 'run.sh' }, attemptHandlers([fails('Job.NonZeroExit'), fails('States.HeartbeatTimeout'), ok]));
    expect(r.status).toBe('SUCCEEDED');
    expect(r.calls[STATES.LAUNCH]).toHaveLength(3);
    // Each attempt's own instance is terminated, in order.
    expect(r.calls[STATES.TERMINATE]).toEqual([1, 2, 3].map((n) => ({ InstanceIds: [instanceFor(n)] })));
    // Every attempt gets its own idempotency token and says which attempt it is.
    const tokens = r.calls[STATES.LAUNCH].map((c) => c.ClientToken);
    expect(new Set(tokens).size).toBe(3);
    expect(r.calls[STATES.PAUSE].map((c) => c.Body.attempt)).toEqual([1, 2, 3]);
    expect(r.path.filter((s) => s === STATES.WAIT_BEFORE_RETRY)).toHaveLength(2);
    // One notification, for the run, naming the attempt that succeeded.
    expect(notifications(r)).toHaveLength(1);
    expect(notifications(r)[0].Message).toMatchObject({ status: 'SUCCEEDED', attempt: 3, maxAttempts: 3, instanceId: instanceFor(3) });
    // The output keeps why the previous attempt failed.
    expect(r.output.previousError.Error).toBe('States.HeartbeatTimeout');
  });

  test('every attempt fails: FAILED with the last attempt\'s error, every instance terminated, one notification', async () => {
    const r = await runLocally(definition, { script: 'run.sh' }, attemptHandlers([fails('Job.NonZeroExit'), fails('Job.SpotInterrupted'), fails('States.Timeout')]));
    expect(r.status).toBe('FAILED');
    expect(r.error).toBe('States.Timeout');
    expect(r.calls[STATES.TERMINATE]).toHaveLength(3);
    expect(notifications(r)).toHaveLength(1);
    expect(notifications(r)[0]).toMatchObject({ Subject: 'FAILED: exec-1', Message: { attempt: 3, error: 'States.Timeout' } });
  });

  test('a launch that fails in every subnet is a failed attempt too (nothing to terminate)', async () => {
    let launches = 0;
    const r = await runLocally(
      definition,
      { script: 'run.sh' },
      attemptHandlers([ok], {
        [STATES.LAUNCH]: () => {
          // The instance type is not offered in either subnet's AZ: each subnet once, then the attempt fails.
          if (++launches <= 2) throw taskFailure('ec2-run-unsupported-az');
          return { Instances: [{ InstanceId: instanceFor(1) }] };
        },
      }),
    );
    expect(r.status).toBe('SUCCEEDED');
    // Attempt 1: one try in each of 2 subnets; attempt 2 launches at once.
    expect(r.calls[STATES.LAUNCH]).toHaveLength(3);
    expect(r.calls[STATES.TERMINATE]).toEqual([{ InstanceIds: [instanceFor(1)] }]);
    expect(notifications(r)[0].Message.attempt).toBe(2);
  });

  test('an instance that could not be terminated ends the run: no further attempt', async () => {
    const r = await runLocally(
      definition,
      { script: 'run.sh' },
      attemptHandlers([fails('Job.NonZeroExit'), ok], { [STATES.TERMINATE]: () => Promise.reject(awsError('Ec2.Ec2Exception', 'UnauthorizedOperation')) }),
    );
    expect(r.status).toBe('FAILED');
    expect(r.error).toBe('Terminate.Failed');
    expect(r.calls[STATES.LAUNCH]).toHaveLength(1);
  });

  test('bad input is not retried', async () => {
    const r = await runLocally(definition, { script: 'run.sh', args: 'x' }, attemptHandlers([ok]));
    expect(r.error).toBe('Input.InvalidArgs');
    expect(r.calls[STATES.LAUNCH]).toBeUndefined();
    expect(notifications(r)[0].Message.attempt).toBe(0);
  });

  test('with one attempt there is no retry state at all', () => {
    const single = runDefinition();
    expect(single.States[STATES.TRY_AGAIN]).toBeUndefined();
    expect(single.States[STATES.WAIT_BEFORE_RETRY]).toBeUndefined();
  });
});
