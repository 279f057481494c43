/**
 * workflow/input.ts: the execution-input checks, run in the local ASL interpreter: bad input fails before any launch
 * with a specific Input.* error, the AWS sample's {"userInput": "<bash>"}, and env.
 */
import { STATES } from '../../src/workflow/states';
import { awsError, runLocally } from '../support/local-sfn';
import { attemptHandlers, expectOutcome, happyHandlers, notifications, ok } from '../support/run-handlers';
import { runDefinition } from '../support/template';

const definition = runDefinition();

describe('bad input fails before any launch, with a specific error in the notification and the execution', () => {
  test.each<[string, unknown, string]>([
    ['no script', { args: ['a'] }, 'Input.MissingScript'],
    ['script is not a string', { script: 42 }, 'Input.MissingScript'],
    ['input is not an object', 'run.sh', 'Input.MissingScript'],
    ['input is a list', ['run.sh'], 'Input.MissingScript'],
    ['empty script', { script: '' }, 'Input.ReservedKey'],
    ["script under the pipeline's prefix", { script: 'pipeline/tasks/i-1.json' }, 'Input.ReservedKey'],
    ['absolute script key', { script: '/etc/passwd' }, 'Input.ReservedKey'],
    ['script key climbing out', { script: 'jobs/../../x.sh' }, 'Input.ReservedKey'],
    ['args is a string', { script: 'run.sh', args: '--all' }, 'Input.InvalidArgs'],
    ['args is an object', { script: 'run.sh', args: { a: 1 } }, 'Input.InvalidArgs'],
    ['args is null', { script: 'run.sh', args: null }, 'Input.InvalidArgs'],
    ['args holds a number', { script: 'run.sh', args: ['a', 2] }, 'Input.InvalidArgs'],
    ['args holds a list', { script: 'run.sh', args: [['a']] }, 'Input.InvalidArgs'],
    ['too many args', { script: 'run.sh', args: Array(1001).fill('a') }, 'Input.TooManyArgs'],
    ['an unknown field', { script: 'run.sh', arg: ['typo'] }, 'Input.UnknownFields'],
    ['an unknown field next to args', { script: 'run.sh', args: [], timeout: 5 }, 'Input.UnknownFields'],
  ])('%s', async (_name, input, error) => {
    const r = await runLocally(definition, input, happyHandlers());
    expectOutcome(r, 'FAILED', { terminated: false, error });
    expect(r.calls[STATES.LAUNCH]).toBeUndefined();
    expect(r.cause!.length).toBeGreaterThan(20);
  });

  test('script key that does not exist in the bucket', async () => {
    const r = await runLocally(definition, { script: 'jobs/missing.sh' }, {
      ...happyHandlers(),
      [STATES.CHECK_SCRIPT]: () => {
        throw awsError('S3.NoSuchKeyException', 'Not Found');
      },
    });
    expectOutcome(r, 'FAILED', { terminated: false, error: 'Input.ScriptNotFound' });
    expect(r.cause).toMatch(/jobs\/missing\.sh cannot be read \(S3\.NoSuchKeyException\)/);
    expect(r.calls[STATES.LAUNCH]).toBeUndefined();
  });
});

describe('the AWS sample\'s input: {"userInput": "<bash>"}', () => {

  test('runs the text as the job: no script lookup, the text in the task document', async () => {
    const userInput = '#!/bin/bash \n yum update -y \n echo "Starting User Data"';
    const r = await runLocally(definition, { userInput }, attemptHandlers([ok]));
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
    const r = await runLocally(definition, input, attemptHandlers([ok]));
    expect(r.status).toBe('FAILED');
    expect(r.error).toBe(error);
    expect(r.calls[STATES.LAUNCH]).toBeUndefined();
    expect(notifications(r)).toHaveLength(1);
  });
});

describe('env', () => {

  test('is handed to the job through the task document', async () => {
    const r = await runLocally(definition, { script: 'run.sh', env: { STAGE: 'prod', DAY: '2026-01-01' } }, attemptHandlers([ok]));
    expect(r.status).toBe('SUCCEEDED');
    expect(r.calls[STATES.PAUSE][0].Body.env).toEqual({ STAGE: 'prod', DAY: '2026-01-01' });
  });

  test.each<[string, unknown]>([
    ['a list', ['A=1']],
    ['a string', 'A=1'],
    ['a number value', { A: 1 }],
    ['an object value', { A: { B: '1' } }],
  ])('fails before any launch when env is %s', async (_name, env) => {
    const r = await runLocally(definition, { script: 'run.sh', env }, attemptHandlers([ok]));
    expect(r.error).toBe('Input.InvalidEnv');
    expect(r.calls[STATES.LAUNCH]).toBeUndefined();
  });
});
