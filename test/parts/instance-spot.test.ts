/**
 * parts/instance, Spot: `spot` (maxPrice, onDemandOnLastAttempt). The Spot and On-Demand launches in the definition,
 * the Spot service-linked role, and Spot attempts in local runs. (The rest of the instance part: instance.test.ts.)
 */
import { STATES } from '../../src/workflow/states';
import { awsError, runLocally } from '../support/local-sfn';
import { hasAction, roleStatements } from '../support/policies';
import { attemptHandlers, fails, instanceFor, ok } from '../support/run-handlers';
import { runDefinition, runDefinitionOf, synth, TEST_ENV } from '../support/template';

describe('spot', () => {
  const SPOT_MARKET = { MarketType: 'spot', SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' } };

  test('default: On-Demand only, no InstanceMarketOptions anywhere in the definition', () => {
    const definition = runDefinition();
    expect(definition.States[STATES.LAUNCH_SPOT]).toBeUndefined();
    expect(definition.States[STATES.SPOT_OR_ON_DEMAND]).toBeUndefined();
    expect(definition.States[STATES.LAUNCH].Parameters).toBeDefined();
    expect(JSON.stringify(definition)).not.toContain('InstanceMarketOptions');
  });

  test('with maxPrice and 3 attempts: Spot at that price, On-Demand for the last attempt', () => {
    const states = runDefinitionOf(synth({ maxAttempts: 3, spot: { maxPrice: '0.05' } })).States;
    expect(states[STATES.LAUNCH_SPOT].Parameters.InstanceMarketOptions).toEqual({
      ...SPOT_MARKET,
      SpotOptions: { ...SPOT_MARKET.SpotOptions, MaxPrice: '0.05' },
    });
    expect(states[STATES.LAUNCH].Parameters.InstanceMarketOptions).toBeUndefined();
    expect(states[STATES.SPOT_OR_ON_DEMAND]).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.attempt', NumericGreaterThanEquals: 3, Next: STATES.LAUNCH }],
      Default: STATES.LAUNCH_SPOT,
    });
  });

  test('without maxPrice: Spot at the On-Demand price (no MaxPrice)', () => {
    const states = runDefinitionOf(synth({ maxAttempts: 2, spot: {} })).States;
    expect(states[STATES.LAUNCH_SPOT].Parameters.InstanceMarketOptions).toEqual(SPOT_MARKET);
    expect(states[STATES.SPOT_OR_ON_DEMAND]).toBeDefined();
  });

  test('a single attempt is Spot: no choice, no On-Demand launch', () => {
    const states = runDefinitionOf(synth({ spot: { maxPrice: '0.01' } })).States;
    expect(states[STATES.LAUNCH_SPOT].Parameters.InstanceMarketOptions.SpotOptions.MaxPrice).toBe('0.01');
    expect(states[STATES.SPOT_OR_ON_DEMAND]).toBeUndefined();
    expect(states[STATES.LAUNCH]).toBeUndefined();
  });

  test('onDemandOnLastAttempt: false keeps every attempt on Spot: no choice, no On-Demand launch', () => {
    const states = runDefinitionOf(synth({ maxAttempts: 3, spot: { onDemandOnLastAttempt: false } })).States;
    expect(states[STATES.LAUNCH_SPOT].Parameters.InstanceMarketOptions).toEqual(SPOT_MARKET);
    expect(states[STATES.SPOT_OR_ON_DEMAND]).toBeUndefined();
    expect(states[STATES.LAUNCH]).toBeUndefined();
    expect(states[STATES.NEXT_ATTEMPT].Next).toBe(STATES.LAUNCH_SPOT);
  });

  test('the state machine role may create the Spot service-linked role, and only that one', () => {
    const s = synth({ spot: {} });
    const slr = roleStatements(s, s.pipeline.stateMachine.role).filter((st) => hasAction(st, 'iam:CreateServiceLinkedRole'));
    expect(slr).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Resource: [`arn:aws:iam::${TEST_ENV.account}:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot`],
        Condition: { StringEquals: { 'iam:AWSServiceName': 'spot.amazonaws.com' } },
      }),
    ]);
  });
});

describe('Spot in local runs (spotBidPrice, useOnDemandOnLastAttempt)', () => {
  test('launches Spot, and On-Demand on the last attempt after a Spot interruption', async () => {
    const definition = runDefinition({ maxAttempts: 2, spot: { maxPrice: '0.0042' } });
    const r = await runLocally(definition, { script: 'run.sh' }, attemptHandlers([fails('Job.SpotInterrupted'), ok]));
    expect(r.status).toBe('SUCCEEDED');
    expect(r.calls[STATES.LAUNCH_SPOT]).toHaveLength(1);
    expect(r.calls[STATES.LAUNCH_SPOT][0].InstanceMarketOptions).toEqual({
      MarketType: 'spot',
      SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate', MaxPrice: '0.0042' },
    });
    expect(r.calls[STATES.LAUNCH]).toHaveLength(1);
    expect(r.calls[STATES.LAUNCH][0].InstanceMarketOptions).toBeUndefined();
    expect(r.calls[STATES.TERMINATE]).toHaveLength(2);
  });

  test('onDemandOnLastAttempt: false keeps every attempt on Spot', async () => {
    const definition = runDefinition({ maxAttempts: 2, spot: { onDemandOnLastAttempt: false } });
    const r = await runLocally(definition, { script: 'run.sh' }, attemptHandlers([fails('Job.SpotInterrupted'), ok]));
    expect(r.calls[STATES.LAUNCH_SPOT]).toHaveLength(2);
    expect(r.calls[STATES.LAUNCH]).toBeUndefined();
    expect(r.calls[STATES.LAUNCH_SPOT][0].InstanceMarketOptions.SpotOptions.MaxPrice).toBeUndefined();
  });

  test('with a single attempt, that attempt is Spot', async () => {
    const definition = runDefinition({ spot: {} });
    const r = await runLocally(definition, { script: 'run.sh' }, attemptHandlers([ok]));
    expect(r.calls[STATES.LAUNCH_SPOT]).toHaveLength(1);
    expect(r.calls[STATES.LAUNCH]).toBeUndefined();
  });

  test('no Spot capacity in one subnet: the next subnet is tried on Spot', async () => {
    const definition = runDefinition({ spot: {} });
    let n = 0;
    const r = await runLocally(
      definition,
      { script: 'run.sh' },
      attemptHandlers([ok], {
        [STATES.LAUNCH_SPOT]: () => {
          if (++n <= 4) throw awsError('Ec2.Ec2Exception', 'InsufficientInstanceCapacity: no Spot capacity');
          return { Instances: [{ InstanceId: instanceFor(1) }] };
        },
      }),
    );
    expect(r.status).toBe('SUCCEEDED');
    expect(r.calls[STATES.LAUNCH_SPOT]).toHaveLength(5);
  });
});
