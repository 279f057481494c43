/**
 * Data Pipeline parity through the synthesized definition in the local ASL interpreter:
 * attempts (maximumRetries/retryDelay), Spot with On-Demand on the last attempt, userInput (the AWS sample's
 * input), env, activity mode, and turning notifications off.
 */
import { Duration } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { TaskHandoff } from '../src';
import { awsError, Handler, LocalRunResult, runLocally } from './support/local-sfn';
import { definitionOf, runDefinition, synth } from './support/template';
import { STATES } from '../src/workflow/states';

function instanceFor(n: number): string {
  return `i-${String(n).padStart(17, '0')}`;
}

/** Fakes that hand out a new instance ID on every launch and run `jobs` in order, one per attempt. */
function handlers(jobs: Array<() => any>, extra: Record<string, Handler> = {}): Record<string, Handler> {
  let launches = 0;
  let attempt = 0;
  const launch = () => ({ Instances: [{ InstanceId: instanceFor(++launches) }] });
  return {
    [STATES.CHECK_SCRIPT]: () => ({}),
    [STATES.LAUNCH]: launch,
    [STATES.LAUNCH_SPOT]: launch,
    [STATES.PAUSE]: () => jobs[Math.min(attempt++, jobs.length - 1)](),
    [STATES.TERMINATE]: () => ({}),
    [STATES.NOTIFY_SUCCESS]: () => ({ MessageId: 'm' }),
    [STATES.NOTIFY_FAILURE]: () => ({ MessageId: 'm' }),
    ...extra,
  };
}
const ok = () => ({ exitCode: 0, durationSeconds: 1, outputTail: 'ok\n' });
const fails = (error: string) => () => {
  throw awsError(error, `${error} (attempt failed)`);
};

function notifications(r: LocalRunResult): any[] {
  return [...(r.calls[STATES.NOTIFY_SUCCESS] ?? []), ...(r.calls[STATES.NOTIFY_FAILURE] ?? [])];
}

describe('the AWS sample\'s input: {"userInput": "<bash>"}', () => {
  const definition = runDefinition();

  test('runs the text as the job: no script lookup, the text in the task document', async () => {
    const userInput = '#!/bin/bash \n yum update -y \n echo "Starting User Data"';
    const r = await runLocally(definition, { userInput }, handlers([ok]));
    expect(r.status).toBe('SUCCEEDED');
    expect(r.calls[STATES.CHECK_SCRIPT]).toBeUndefined();
    expect(r.calls[STATES.PAUSE][0].Body).toMatchObject({ script: '', userInput, args: [], env: {} });
  });

  test.each<[string, unknown, string]>([
    ['script and userInput together', { script: 'run.sh', userInput: 'echo hi' }, 'Input.ScriptAndUserInput'],
    ['empty userInput', { userInput: '' }, 'Input.InvalidUserInput'],
    ['userInput that is not text', { userInput: ['echo hi'] }, 'Input.InvalidUserInput'],
    ['userInput with an unknown field', { userInput: 'echo', foo: 1 }, 'Input.UnknownFields'],
  ])('fails before any launch: %s', async (_name, input, error) => {
    const r = await runLocally(definition, input, handlers([ok]));
    expect(r.status).toBe('FAILED');
    expect(r.error).toBe(error);
    expect(r.calls[STATES.LAUNCH]).toBeUndefined();
    expect(notifications(r)).toHaveLength(1);
  });
});

describe('env', () => {
  const definition = runDefinition();

  test('is handed to the job through the task document', async () => {
    const r = await runLocally(definition, { script: 'run.sh', env: { STAGE: 'prod', DAY: '2026-01-01' } }, handlers([ok]));
    expect(r.status).toBe('SUCCEEDED');
    expect(r.calls[STATES.PAUSE][0].Body.env).toEqual({ STAGE: 'prod', DAY: '2026-01-01' });
  });

  test.each<[string, unknown]>([
    ['a list', ['A=1']],
    ['a string', 'A=1'],
    ['a number value', { A: 1 }],
    ['an object value', { A: { B: '1' } }],
  ])('fails before any launch when env is %s', async (_name, env) => {
    const r = await runLocally(definition, { script: 'run.sh', env }, handlers([ok]));
    expect(r.error).toBe('Input.InvalidEnv');
    expect(r.calls[STATES.LAUNCH]).toBeUndefined();
  });
});
