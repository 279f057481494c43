/**
 * workflow/launch.ts: the launch, run in the local ASL interpreter with the real synthesized definition. Every EC2
 * error is a real one from test/fixtures/aws (`taskFailure`): `Ec2.Ec2Exception` with EC2's message in the Cause.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CfnParameter, Duration } from 'aws-cdk-lib';
import { LAUNCH_ERRORS } from '../../src/protocol';
import {
  CAPACITY_WAIT_SECONDS,
  LAUNCH_FAILURES,
  RETRY_BACKOFF_SECONDS,
  UNKNOWN_LAUNCH_FAILURE,
} from '../../src/workflow/launch';
import { STATES } from '../../src/workflow/states';
import { awsFixture, taskFailure } from '../support/aws-fixtures';
import { Handler, LocalRunResult, runLocally } from '../support/local-sfn';
import { attemptHandlers, expectOutcome, happyHandlers, INSTANCE, instanceFor, notifications, ok } from '../support/run-handlers';
import { runDefinition, runDefinitionOf, synth } from '../support/template';

const subnetOf = (launch: any): string => launch.NetworkInterfaces[0].SubnetId;
const subnetsOf = (r: LocalRunResult, state: string = STATES.LAUNCH): string[] => (r.calls[state] ?? []).map(subnetOf);
const tokensOf = (r: LocalRunResult, state: string = STATES.LAUNCH): string[] => (r.calls[state] ?? []).map((c) => c.ClientToken);
/** What a Pass state wrote to `$.instance`, each time it ran. */
const bookkeeping = (r: LocalRunResult, state: string): any[] =>
  r.events.filter((e) => e.type === 'StateExited' && e.state.name === state).map((e) => e.state.output.instance);
const launched = () => ({ Instances: [{ InstanceId: INSTANCE }] });

/**
 * The same EC2 error with its code in front of the message, the form the Go SDK prints (the quotes in
 * ec2-run-insufficient-free-addresses.json and ec2-run-unsupported-az.json): in case a Cause ever carries the code.
 */
function withCode(fixture: string, code: string): Error {
  const e = taskFailure(fixture);
  e.message = `${code}: ${e.message}`;
  return e;
}

/** A launch handler that fails with `error` in every subnet but `good` (or everywhere), counting its calls. */
function failingIn(error: () => Error, good?: (subnet: string, call: number) => boolean): Handler {
  let n = 0;
  return (input: any) => {
    n++;
    if (good?.(subnetOf(input), n)) return launched();
    throw error();
  };
}

describe('capacity, addresses or an instance type not offered in the AZ: the next subnet', () => {
  const definition = runDefinition();

  test.each([
    'ec2-run-insufficient-instance-capacity',
    'ec2-run-insufficient-free-addresses',
    'ec2-run-unsupported-az',
    'ec2-run-spot-no-capacity',
    'ec2-run-spot-max-price-too-low',
  ])('%s in the first subnet: one launch in the other subnet, with a new client token, SUCCEEDED', async (fixture) => {
    let first: string | undefined;
    const r = await runLocally(definition, { script: 'run.sh' }, {
      ...happyHandlers(),
      [STATES.LAUNCH]: failingIn(() => taskFailure(fixture), (subnet) => subnet !== (first ??= subnet)),
    });
    expectOutcome(r, 'SUCCEEDED', { terminated: true });
    const [a, b] = subnetsOf(r);
    expect(subnetsOf(r)).toHaveLength(2);
    expect(b).not.toBe(a);
    expect(new Set(tokensOf(r)).size).toBe(2);
    expect(r.path).toContain(STATES.NEXT_SUBNET);
    expect(r.path).not.toContain(STATES.RETRY_IN_SUBNET);
  });

  test.each([
    ['ec2-run-insufficient-instance-capacity', 'InsufficientInstanceCapacity'],
    ['ec2-run-insufficient-free-addresses', 'InsufficientFreeAddressesInSubnet'],
    ['ec2-run-unsupported-az', 'Unsupported'],
  ])('%s with its code %s in the Cause routes the same way', async (fixture, code) => {
    let first: string | undefined;
    const r = await runLocally(definition, { script: 'run.sh' }, {
      ...happyHandlers(),
      [STATES.LAUNCH]: failingIn(() => withCode(fixture, code), (subnet) => subnet !== (first ??= subnet)),
    });
    expectOutcome(r, 'SUCCEEDED', { terminated: true });
    expect(new Set(subnetsOf(r)).size).toBe(2);
  });

  test('the instance type is offered in no subnet\'s AZ: each subnet once, then the attempt fails with EC2\'s message (no waiting)', async () => {
    const r = await runLocally(definition, { script: 'run.sh' }, { ...happyHandlers(), [STATES.LAUNCH]: failingIn(() => taskFailure('ec2-run-unsupported-az')) });
    expectOutcome(r, 'FAILED', { terminated: false, error: 'Ec2.Ec2Exception' });
    expect(new Set(subnetsOf(r)).size).toBe(2);
    expect(subnetsOf(r)).toHaveLength(2);
    expect(r.cause).toBe(taskFailure('ec2-run-unsupported-az').message);
    expect(r.path).not.toContain(STATES.WAIT_FOR_CAPACITY);
  });
});

describe('refused: not authorized or an invalid parameter fails the run at once', () => {
  // Three attempts allowed: a refusal must not use them.
  const definition = runDefinition({ maxAttempts: 3, retryDelay: Duration.seconds(10) });

  test.each(['ec2-run-unauthorized-operation', 'ec2-run-invalid-parameter', 'ec2-run-invalid-ami'])(
    '%s: one launch, no retry, no other subnet, no other attempt, one notification, Launch.Refused with EC2\'s message',
    async (fixture) => {
      const r = await runLocally(definition, { script: 'run.sh' }, attemptHandlers([ok], { [STATES.LAUNCH]: failingIn(() => taskFailure(fixture)) }));
      expect(r.status).toBe('FAILED');
      expect(r.error).toBe(LAUNCH_ERRORS.REFUSED);
      expect(r.cause).toBe(taskFailure(fixture).message);
      expect(r.calls[STATES.LAUNCH]).toHaveLength(1);
      expect(notifications(r)).toHaveLength(1);
      expect(notifications(r)[0].Message).toMatchObject({ status: 'FAILED', error: LAUNCH_ERRORS.REFUSED, attempt: 1, instanceId: 'none' });
      expect(r.path).not.toContain(STATES.NEXT_ATTEMPT);
      expect(r.path).not.toContain(STATES.NEXT_SUBNET);
      expect(r.path).not.toContain(STATES.RETRY_IN_SUBNET);
      expect(r.calls[STATES.TERMINATE]).toBeUndefined();
      expect(r.calls[STATES.PAUSE]).toBeUndefined();
    },
  );

  test('UnauthorizedOperation as a code in the Cause is refused too', async () => {
    const r = await runLocally(definition, { script: 'run.sh' }, attemptHandlers([ok], {
      [STATES.LAUNCH]: failingIn(() => withCode('ec2-run-unauthorized-operation', 'UnauthorizedOperation')),
    }));
    expect(r.error).toBe(LAUNCH_ERRORS.REFUSED);
    expect(r.calls[STATES.LAUNCH]).toHaveLength(1);
  });

  test('an instance profile EC2 does not see yet (IAM is eventually consistent) is not refused: retried in place, then launched', async () => {
    const r = await runLocally(definition, { script: 'run.sh' }, attemptHandlers([ok], {
      [STATES.LAUNCH]: failingIn(() => taskFailure('ec2-run-invalid-instance-profile'), (_s, n) => n > 3),
    }));
    expect(r.status).toBe('SUCCEEDED');
    expect(r.calls[STATES.LAUNCH]).toHaveLength(4);
    expect(new Set(subnetsOf(r)).size).toBe(1);
    expect(new Set(tokensOf(r)).size).toBe(1);
  });
});

describe('throttling: retried in the same subnet with back-off and full jitter', () => {
  const definition = runDefinition();

  test('"Request limit exceeded" 6 times, then a launch: same subnet, same client token, SUCCEEDED', async () => {
    const r = await runLocally(definition, { script: 'run.sh' }, {
      ...happyHandlers(),
      [STATES.LAUNCH]: failingIn(() => taskFailure('ec2-run-request-limit-exceeded'), (_s, n) => n > 6),
    });
    expectOutcome(r, 'SUCCEEDED', { terminated: true });
    expect(r.calls[STATES.LAUNCH]).toHaveLength(7);
    expect(new Set(subnetsOf(r)).size).toBe(1);
    // The same token: had a throttled-looking call launched after all, the retry would return that instance.
    expect(new Set(tokensOf(r)).size).toBe(1);
    // Each wait is random between 0 and the back-off's cap for that retry (2, 4, 8 … 60 s).
    const delays = bookkeeping(r, STATES.RETRY_IN_SUBNET).map((i) => i.Delay);
    expect(delays).toHaveLength(6);
    delays.forEach((d, k) => {
      expect(Number.isInteger(d)).toBe(true);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(RETRY_BACKOFF_SECONDS[k]);
    });
    expect(r.path.filter((s) => s === STATES.WAIT_TO_LAUNCH)).toHaveLength(6);
  });

  test('the back-off waits are random (full jitter), not a fixed schedule', async () => {
    const seen = new Set<number>();
    for (let i = 0; i < 8 && seen.size < 2; i++) {
      const r = await runLocally(definition, { script: 'run.sh' }, {
        ...happyHandlers(),
        [STATES.LAUNCH]: failingIn(() => taskFailure('ec2-run-request-limit-exceeded'), (_s, n) => n > 6),
      });
      seen.add(bookkeeping(r, STATES.RETRY_IN_SUBNET)[5].Delay); // the last one: cap 60 s
    }
    expect(seen.size).toBeGreaterThan(1);
  });

  test('still throttled after 6 retries: it waits for capacity and starts over with a new token', async () => {
    const r = await runLocally(definition, { script: 'run.sh' }, {
      ...happyHandlers(),
      [STATES.LAUNCH]: failingIn(() => taskFailure('ec2-run-request-limit-exceeded'), (_s, n) => n > 7),
    });
    expectOutcome(r, 'SUCCEEDED', { terminated: true });
    expect(r.path.filter((s) => s === STATES.WAIT_FOR_CAPACITY)).toHaveLength(1);
    expect(new Set(tokensOf(r).slice(0, 7)).size).toBe(1);
    expect(tokensOf(r)[7]).not.toBe(tokensOf(r)[0]);
  });
});

describe('quota and capacity everywhere: waited out, bounded by the job timeout', () => {
  test('vCPU quota three times, then a launch: one launch per wait, SUCCEEDED', async () => {
    const definition = runDefinition();
    const r = await runLocally(definition, { script: 'run.sh' }, {
      ...happyHandlers(),
      [STATES.LAUNCH]: failingIn(() => taskFailure('ec2-run-vcpu-limit-exceeded'), (_s, n) => n > 3),
    });
    expectOutcome(r, 'SUCCEEDED', { terminated: true });
    expect(r.calls[STATES.LAUNCH]).toHaveLength(4);
    // The quota is the account's: no other subnet is tried for it.
    expect(r.path).not.toContain(STATES.NEXT_SUBNET);
    const waits = bookkeeping(r, STATES.WAIT_FOR_CAPACITY);
    expect(waits).toHaveLength(3);
    // Each wait is between half its cap and its cap (15, 30, 60 s …), so waiting runs spread out.
    waits.forEach((w, k) => {
      expect(w.Delay).toBeGreaterThanOrEqual(Math.ceil(CAPACITY_WAIT_SECONDS[k] / 2));
      expect(w.Delay).toBeLessThanOrEqual(CAPACITY_WAIT_SECONDS[k]);
    });
    expect(new Set(tokensOf(r)).size).toBe(4);
  });

  test('Spot quota (max spot instance count) is waited out too', async () => {
    const definition = runDefinition({ spot: {} });
    const r = await runLocally(definition, { script: 'run.sh' }, attemptHandlers([ok], {
      [STATES.LAUNCH_SPOT]: failingIn(() => taskFailure('ec2-run-spot-instance-count-exceeded'), (_s, n) => n > 2),
    }));
    expect(r.status).toBe('SUCCEEDED');
    expect(r.path.filter((s) => s === STATES.WAIT_FOR_CAPACITY)).toHaveLength(2);
  });

  test('the quota never frees up: waits whose caps add up to at most jobTimeout, then the attempt fails with EC2\'s message', async () => {
    // jobTimeout 60 s: waits of at most 15 and 30 s fit (45 s); a third (60 s) would not.
    const definition = runDefinition({ jobTimeout: Duration.seconds(60), heartbeatTimeout: Duration.seconds(30) });
    const r = await runLocally(definition, { script: 'run.sh' }, { ...happyHandlers(), [STATES.LAUNCH]: failingIn(() => taskFailure('ec2-run-vcpu-limit-exceeded')) });
    expectOutcome(r, 'FAILED', { terminated: false, error: 'Ec2.Ec2Exception' });
    expect(r.cause).toBe(taskFailure('ec2-run-vcpu-limit-exceeded').message);
    expect(r.calls[STATES.LAUNCH]).toHaveLength(3);
    const delays = bookkeeping(r, STATES.WAIT_FOR_CAPACITY).map((w) => w.Delay);
    expect(delays).toHaveLength(2);
    expect(delays.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(60);
    expect(r.path).toContain(STATES.LAUNCH_GAVE_UP);
  });

  test('with the default jobTimeout (1 hour), the waits add up to at most an hour', async () => {
    const definition = runDefinition();
    const r = await runLocally(definition, { script: 'run.sh' }, { ...happyHandlers(), [STATES.LAUNCH]: failingIn(() => taskFailure('ec2-run-vcpu-limit-exceeded')) });
    expect(r.status).toBe('FAILED');
    const delays = bookkeeping(r, STATES.WAIT_FOR_CAPACITY).map((w) => w.Delay);
    // Caps 15+30+60+120+240+480+900+900 = 2745 s fit in 3600 s; one more 900 s would not.
    expect(delays).toHaveLength(8);
    expect(delays.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(3600);
    expect(delays.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2745 / 2);
  });

  test('no capacity in any subnet: each subnet once per round, a wait between rounds, then a launch', async () => {
    const definition = runDefinition();
    const r = await runLocally(definition, { script: 'run.sh' }, {
      ...happyHandlers(),
      [STATES.LAUNCH]: failingIn(() => taskFailure('ec2-run-insufficient-instance-capacity'), (_s, n) => n > 4),
    });
    expectOutcome(r, 'SUCCEEDED', { terminated: true });
    const subnets = subnetsOf(r);
    expect(subnets).toHaveLength(5);
    expect(new Set(subnets.slice(0, 2)).size).toBe(2);
    expect(new Set(subnets.slice(2, 4)).size).toBe(2);
    expect(r.path.filter((s) => s === STATES.WAIT_FOR_CAPACITY)).toHaveLength(2);
  });

  test('Spot with an On-Demand last attempt: no Spot capacity anywhere fails the Spot attempt at once, and On-Demand launches', async () => {
    const definition = runDefinition({ maxAttempts: 2, retryDelay: Duration.seconds(1), spot: {} });
    const r = await runLocally(definition, { script: 'run.sh' }, attemptHandlers([ok], {
      [STATES.LAUNCH_SPOT]: failingIn(() => taskFailure('ec2-run-spot-no-capacity')),
    }));
    expect(r.status).toBe('SUCCEEDED');
    expect(r.calls[STATES.LAUNCH_SPOT]).toHaveLength(2);
    expect(r.calls[STATES.LAUNCH]).toHaveLength(1);
    expect(r.path).not.toContain(STATES.WAIT_FOR_CAPACITY);
  });

  test('a jobTimeout from a CloudFormation parameter bounds the waits too', () => {
    const s = synth({}, (stack) => ({
      jobTimeout: Duration.seconds(new CfnParameter(stack, 'JobSeconds', { type: 'Number' }).valueAsNumber),
    }));
    const rules = runDefinitionOf(s).States[STATES.LAUNCH_FAILED].Choices;
    const bounds = JSON.stringify(rules).match(/"NumericLessThanEquals":[^,}]+/g) ?? [];
    // The test helpers resolve a Number parameter to 36000.
    expect(new Set(bounds)).toEqual(new Set(['"NumericLessThanEquals":36000']));
  });
});

describe('first launches spread over the subnets; each subnet tried once per round', () => {
  const definition = runDefinition({ maxAzs: 3 });

  test('40 runs start in more than one subnet, and only in the pipeline\'s subnets', async () => {
    const firsts: string[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await runLocally(definition, { script: 'run.sh' }, happyHandlers(), { executionName: `exec-${i}` });
      expect(r.status).toBe('SUCCEEDED');
      firsts.push(subnetsOf(r)[0]);
    }
    const used = new Set(firsts);
    expect(used.size).toBeGreaterThan(1);
    expect([...used].every((s) => /VpcJobsSubnet[123]Subnet/.test(s))).toBe(true);
  });

  test('failing in every subnet: each of the 3 subnets exactly once, whatever the first', async () => {
    const firsts = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const r = await runLocally(definition, { script: 'run.sh' }, { ...happyHandlers(), [STATES.LAUNCH]: failingIn(() => taskFailure('ec2-run-unsupported-az')) });
      expect(r.status).toBe('FAILED');
      const subnets = subnetsOf(r);
      expect(subnets).toHaveLength(3);
      expect(new Set(subnets).size).toBe(3);
      firsts.add(subnets[0]);
    }
    expect(firsts.size).toBeGreaterThan(1);
  });
});

describe('an error the launch does not know: a few retries in the same subnet, then the next subnet', () => {
  const definition = runDefinition({ maxAttempts: 2, retryDelay: Duration.seconds(1) });

  test('an internal error in the first subnet: 1 try + 2 retries there (same token), then the other subnet launches', async () => {
    let first: string | undefined;
    const r = await runLocally(definition, { script: 'run.sh' }, attemptHandlers([ok], {
      [STATES.LAUNCH]: failingIn(() => taskFailure('ec2-run-internal-error'), (subnet) => subnet !== (first ??= subnet)),
    }));
    expect(r.status).toBe('SUCCEEDED');
    const subnets = subnetsOf(r);
    expect(subnets).toEqual([first, first, first, expect.not.stringMatching(first!)]);
    expect(new Set(tokensOf(r).slice(0, 3)).size).toBe(1);
    expect(tokensOf(r)[3]).not.toBe(tokensOf(r)[0]);
    expect(bookkeeping(r, STATES.RETRY_IN_SUBNET).map((i) => i.Delay).every((d, k) => d <= RETRY_BACKOFF_SECONDS[k])).toBe(true);
  });

  test('in every subnet: the attempt fails after 3 tries in each, and the next attempt launches', async () => {
    let n = 0;
    const r = await runLocally(definition, { script: 'run.sh' }, attemptHandlers([ok], {
      [STATES.LAUNCH]: () => {
        if (++n <= 6) throw taskFailure('ec2-run-internal-error');
        return { Instances: [{ InstanceId: instanceFor(1) }] };
      },
    }));
    expect(r.status).toBe('SUCCEEDED');
    expect(r.calls[STATES.LAUNCH]).toHaveLength(7);
    expect(notifications(r)[0].Message.attempt).toBe(2);
    expect(r.path).not.toContain(STATES.WAIT_FOR_CAPACITY);
  });
});

describe('the rules, as synthesized', () => {
  const rules = runDefinition().States[STATES.LAUNCH_FAILED].Choices;
  const text = JSON.stringify(rules);

  test('every message fragment and code of every kind is matched in the Cause', () => {
    for (const kind of LAUNCH_FAILURES) {
      for (const fragment of [...kind.messages, ...kind.codes]) expect(text).toContain(`"StringMatches":"*${fragment}*"`);
    }
  });

  test('every fixture a kind names exists and is recognized by that kind (and by no earlier kind)', () => {
    const matches = (cause: string, kind: (typeof LAUNCH_FAILURES)[number]) => [...kind.messages, ...kind.codes].some((f) => cause.includes(f));
    for (const [i, kind] of LAUNCH_FAILURES.entries()) {
      for (const fixture of kind.sources) {
        const cause = awsFixture(fixture).shape.Cause;
        expect([fixture, matches(cause, kind)]).toEqual([fixture, true]);
        for (const earlier of LAUNCH_FAILURES.slice(0, i)) {
          expect([fixture, earlier.name, matches(cause, earlier)]).toEqual([fixture, earlier.name, false]);
        }
      }
    }
    for (const fixture of UNKNOWN_LAUNCH_FAILURE.sources) {
      const cause = awsFixture(fixture).shape.Cause;
      expect(LAUNCH_FAILURES.filter((k) => matches(cause, k)).map((k) => k.name)).toEqual([]);
    }
  });

  test('the launch task has no Retry of its own: a Retry cannot tell one Ec2.Ec2Exception from another', () => {
    const states = runDefinition({ maxAttempts: 2, spot: {} }).States;
    expect(states[STATES.LAUNCH].Retry).toBeUndefined();
    expect(states[STATES.LAUNCH_SPOT].Retry).toBeUndefined();
    expect(states[STATES.LAUNCH].Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.launchError', Next: STATES.LAUNCH_FAILED }]);
  });
});

test('the README\'s "Launch failures" table names every message fragment and code the launch matches', () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
  const start = readme.indexOf('### Launch failures');
  expect(start).toBeGreaterThan(0);
  const section = readme.slice(start, readme.indexOf('\n## ', start));
  for (const kind of LAUNCH_FAILURES) {
    for (const fragment of [...kind.messages, ...kind.codes]) expect([kind.name, section.includes(`\`${fragment}\``)]).toEqual([kind.name, true]);
  }
  expect(section).toContain(LAUNCH_ERRORS.REFUSED);
  expect(section).toContain(RETRY_BACKOFF_SECONDS.join(', '));
});
