/**
 * workflow/input.ts: the execution-input checks, run in the local ASL interpreter: bad input fails before any launch
 * with a specific Input.* error, the AWS sample's {"userInput": "<bash>"}, env, and the bounds on args and env.
 *
 * Every check runs in the input validation state machine (Express); the run calls it in "Validate input". These runs
 * use the real definitions of both: the local interpreter answers "Validate input" by running the validation
 * definition in a second interpreter, as StartSyncExecution would (test/support/local-sfn.ts, withStateMachines).
 */
import { ENV, MAX_ARGS, MAX_ENV, RESERVED_ENV_NAMES } from '../../src/protocol';
import { INPUT_STATES, STATES } from '../../src/workflow/states';
import { awsError, runLocally } from '../support/local-sfn';
import { attemptHandlers, expectOutcome, happyHandlers, notifications, ok } from '../support/run-handlers';
import { definitionOf, refId, synth } from '../support/template';

const synthesized = synth();
const definition = definitionOf(synthesized.json, (id) => id === refId(synthesized, synthesized.pipeline.stateMachine.stateMachineArn));
const validation = definitionOf(synthesized.json, (id) => id === refId(synthesized, synthesized.pipeline.validationStateMachine.stateMachineArn));

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

describe('the checks run in the input validation state machine, not in the run', () => {
  test('a valid run enters three states of its own before launching; the checks are entered in the validation run', async () => {
    const r = await runLocally(definition, { script: 'run.sh', args: ['a', 'b'], env: { STAGE: 'prod' } }, happyHandlers());
    expectOutcome(r, 'SUCCEEDED', { terminated: true });
    expect(r.path.slice(0, 4)).toEqual([STATES.VALIDATE_INPUT, STATES.INPUT_VALID, STATES.PREPARE, STATES.SCRIPT_OR_USER_INPUT]);
    expect(r.path).not.toContain(INPUT_STATES.CHECK_ARG);
    expect(r.nested).toHaveLength(1);
    expect(r.nested[0].path).toEqual(
      expect.arrayContaining([INPUT_STATES.CHECK_INPUT, INPUT_STATES.CHECK_ARG, INPUT_STATES.CHECK_ENV_VALUE, INPUT_STATES.VALID_INPUT]),
    );
  });

  test('the request carries the execution input as it came and the subnets; the answer is the first attempt', async () => {
    const input = { script: 'run.sh', args: ['a'] };
    const r = await runLocally(definition, input, happyHandlers());
    const [request] = r.calls[STATES.VALIDATE_INPUT];
    expect(request.StateMachineArn).toMatch(/:stateMachine:NightlyInputValidation/);
    expect(request.Input).toEqual({ input, subnets: [expect.stringMatching(/^ref-.*Subnet/), expect.stringMatching(/^ref-.*Subnet/)] });
    expect(r.nested[0].output).toEqual({
      script: 'run.sh',
      userInput: '',
      args: ['a'],
      env: {},
      // no fan-out: an empty shard (test/workflow/parent-input.test.ts)
      shard: {},
      subnets: request.Input.subnets,
      attempt: 1,
      instance: expect.objectContaining({ InstanceId: 'none', ClientToken: expect.stringMatching(/^[0-9a-f-]{36}$/) }),
    });
    // The first attempt starts in a random one of the two subnets (launch.ts, attemptLaunch).
    expect([0, 1]).toContain(r.nested[0].output.instance.SubnetIndex);
  });

  test('args and env with quotes and backslashes reach the task document unchanged (the answer is JSON text)', async () => {
    // StringToJson parses the validation's Output; the local interpreter strips backslashes from intrinsic string
    // results (aws-local-stepfunctions 3, BaseIntrinsicFunction.call), but StringToJson's result is an object.
    const args = ['say "hi"', 'C:\\temp\\x', '{"json": [1]}', 'a,b'];
    const env = { QUOTE: '"', BACKSLASH: '\\' };
    const r = await runLocally(definition, { script: 'run.sh', args, env }, happyHandlers());
    expect(r.status).toBe('SUCCEEDED');
    expect(r.calls[STATES.PAUSE][0].Body).toMatchObject({ args, env });
  });
});

describe('bounds: at most MAX_ARGS args and MAX_ENV env variables, each checked without a state per item in the run', () => {
  const many = (n: number) => Array.from({ length: n }, (_, i) => `arg-${i}`);
  const envOf = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`VAR_${i}`, `value ${i}`]));

  test(`${MAX_ARGS} string args are accepted and all reach the job`, async () => {
    const r = await runLocally(definition, { script: 'run.sh', args: many(MAX_ARGS) }, happyHandlers());
    expectOutcome(r, 'SUCCEEDED', { terminated: true });
    expect(r.calls[STATES.PAUSE][0].Body.args).toEqual(many(MAX_ARGS));
  });

  test(`one non-string among ${MAX_ARGS} args is rejected before any launch`, async () => {
    const args: unknown[] = many(MAX_ARGS);
    args[MAX_ARGS - 1] = 7;
    const r = await runLocally(definition, { script: 'run.sh', args }, happyHandlers());
    expectOutcome(r, 'FAILED', { terminated: false, error: 'Input.InvalidArgs' });
    expect(r.calls[STATES.LAUNCH]).toBeUndefined();
  });

  test(`${MAX_ENV} env variables are accepted`, async () => {
    const r = await runLocally(definition, { script: 'run.sh', env: envOf(MAX_ENV) }, happyHandlers());
    expectOutcome(r, 'SUCCEEDED', { terminated: true });
    expect(r.calls[STATES.PAUSE][0].Body.env).toEqual(envOf(MAX_ENV));
  });

  test(`${MAX_ENV + 1} env variables fail with Input.TooManyEnv before any launch`, async () => {
    const r = await runLocally(definition, { script: 'run.sh', env: envOf(MAX_ENV + 1) }, happyHandlers());
    expectOutcome(r, 'FAILED', { terminated: false, error: 'Input.TooManyEnv' });
    expect(r.cause).toContain(`at most ${MAX_ENV}`);
    expect(r.calls[STATES.LAUNCH]).toBeUndefined();
  });
});

describe('env names that change how the shell, the loader or the runtime work are rejected (Input.ReservedEnvName)', () => {
  const reserved = [...RESERVED_ENV_NAMES, 'LD_PRELOAD', 'LD_LIBRARY_PATH', 'LD_AUDIT', 'LD_', ...Object.values(ENV), 'SSP_ANYTHING'];

  test('through the whole run: nothing launched, one notification naming the rule', async () => {
    const r = await runLocally(definition, { script: 'run.sh', env: { STAGE: 'prod', LD_PRELOAD: '/tmp/x.so' } }, happyHandlers());
    expectOutcome(r, 'FAILED', { terminated: false, error: 'Input.ReservedEnvName' });
    expect(r.cause).toMatch(/BASH_ENV, ENV, PATH, IFS, SHELLOPTS, BASHOPTS or a name starting with LD_ or SSP_/);
    expect(r.calls[STATES.LAUNCH]).toBeUndefined();
  });

  // The validation state machine alone (its real definition), as "Validate input" runs it.
  const validate = (env: Record<string, string>) => runLocally(validation, { input: { script: 'run.sh', env }, subnets: ['subnet-1'] }, {});

  test.each(reserved)('%s, alone, first or last among others', async (name) => {
    for (const env of [{ [name]: 'x' }, { [name]: 'x', STAGE: 'prod' }, { STAGE: 'prod', DAY: '1', [name]: 'x' }]) {
      const r = await validate(env);
      expect({ env, error: r.error }).toEqual({ env, error: 'Input.ReservedEnvName' });
    }
  });

  test.each<[string, Record<string, string>]>([
    ['names that only contain a reserved name', { MY_PATH: '1', PATHS: '1', LDX: '1', XLD_PRELOAD: '1', SSPX: '1', ENVIRONMENT: '1', BASH_ENVX: '1' }],
    ['reserved names in lower case (names are case-sensitive)', { path: '1', ld_preload: '1', ssp_x: '1' }],
    ['values that look like reserved names', { A: 'LD_PRELOAD', B: 'PATH', C: 'SSP_TASK_TOKEN' }],
    ['a value holding a quoted reserved prefix', { A: 'say "LD_x" and "SSP_y"' }],
  ])('are accepted: %s', async (_name, env) => {
    const r = await validate(env);
    expect(r.status).toBe('SUCCEEDED');
    expect(r.output.env).toEqual(env);
  });

  // "Env names allowed?" reads the JSON text of env. AWS escapes a quote inside a value (\"), so a name starts right
  // after "{" or "," and nowhere else. The local interpreter strips backslashes from intrinsic results, so the choice
  // is also run here on the text AWS would produce, compact and with a space after each separator.
  test.each<[string, Record<string, string>, boolean]>([
    ['a reserved prefix after a comma inside a value', { A: 'x,"LD_PRELOAD' }, false],
    ['a reserved prefix after ", " inside a value', { A: 'x, "SSP_X' }, false],
    ['a value starting with a reserved prefix', { A: 'LD_PRELOAD' }, false],
    ['a reserved prefix as the first name', { LD_PRELOAD: 'x', A: 'y' }, true],
    ['a reserved prefix as a later name', { A: 'y', SSP_X: 'x' }, true],
  ])('on the JSON text AWS produces: %s', async (_name, env, rejected) => {
    const choice = validation.States[INPUT_STATES.ENV_NAMES_ALLOWED];
    const machine = {
      StartAt: 'Choice',
      States: {
        Choice: { ...choice, Choices: choice.Choices.map((c: any) => ({ ...c, Next: 'Rejected' })), Default: 'Allowed' },
        Rejected: { Type: 'Pass', Result: 'rejected', End: true },
        Allowed: { Type: 'Pass', Result: 'allowed', End: true },
      },
    };
    const compact = JSON.stringify(env);
    const spaced = `{ ${Object.entries(env).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(', ')} }`;
    for (const json of [compact, spaced]) {
      const r = await runLocally(machine, { env, envCheck: { json } }, {});
      expect({ json, answer: r.output }).toEqual({ json, answer: rejected ? 'rejected' : 'allowed' });
    }
  });
});

describe('when the validation itself gives no answer, the run fails before any launch', () => {
  test('StartSyncExecution keeps failing (throttled): retried, then FAILED with its error, one notification', async () => {
    const r = await runLocally(definition, { script: 'run.sh' }, {
      ...happyHandlers(),
      [STATES.VALIDATE_INPUT]: () => {
        throw awsError('Sfn.SfnException', 'Rate exceeded (Service: Sfn, Status Code: 400, Request ID: 1)');
      },
    });
    expectOutcome(r, 'FAILED', { terminated: false, error: 'Sfn.SfnException' });
    expect(r.calls[STATES.VALIDATE_INPUT]).toHaveLength(6); // the call and 5 retries
    expect(r.calls[STATES.LAUNCH]).toBeUndefined();
  });

  test('an answer without an error (TIMED_OUT): Input.NotValidated', async () => {
    const r = await runLocally(definition, { script: 'run.sh' }, {
      ...happyHandlers(),
      [STATES.VALIDATE_INPUT]: () => ({ ExecutionArn: 'arn', StartDate: 0, StopDate: 0, Status: 'TIMED_OUT' }),
    });
    expectOutcome(r, 'FAILED', { terminated: false, error: 'Input.NotValidated' });
    expect(r.cause).toBe('The input validation ended TIMED_OUT without an answer; nothing was launched');
    expect(r.path).toEqual([STATES.VALIDATE_INPUT, STATES.INPUT_VALID, STATES.NO_VALIDATION_RESULT, STATES.NOTIFY_FAILURE, STATES.FAILED]);
    expect(notifications(r)[0].Message.instanceId).toBe('none');
  });

  test('a FAILED answer passes its error and cause through, whatever they are', async () => {
    const r = await runLocally(definition, { script: 'run.sh' }, {
      ...happyHandlers(),
      [STATES.VALIDATE_INPUT]: () => ({ Status: 'FAILED', Error: 'States.Runtime', Cause: 'something inside' }),
    });
    expectOutcome(r, 'FAILED', { terminated: false, error: 'States.Runtime' });
    expect(r.cause).toBe('something inside');
    expect(r.calls[STATES.LAUNCH]).toBeUndefined();
  });
});
