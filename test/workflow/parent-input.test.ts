/**
 * The input fields a parent workflow sets (runJob, fanOut): `shard` and Step Functions' STARTED_BY_FIELD, checked by
 * the real input validation definition in the local interpreter, and `shard` exported to the job by the runtime.
 */
import { SHARD_ENV, STARTED_BY_FIELD } from '../../src/protocol';
import { shardEnv } from '../../src/runtime/run-job';
import { STATES } from '../../src/workflow/states';
import { runLocally } from '../support/local-sfn';
import { happyHandlers } from '../support/run-handlers';
import { definitionOf, refId, synth } from '../support/template';

const synthesized = synth();
const definition = definitionOf(synthesized.json, (id) => id === refId(synthesized, synthesized.pipeline.stateMachine.stateMachineArn));
const validation = definitionOf(synthesized.json, (id) => id === refId(synthesized, synthesized.pipeline.validationStateMachine.stateMachineArn));
const validate = (input: unknown) => runLocally(validation, { input, subnets: ['subnet-1'] }, {});

describe('a run started by another execution', () => {
  test('accepts STARTED_BY_FIELD (the console link to its parent) and keeps it out of the run state', async () => {
    const r = await validate({ script: 'run.sh', [STARTED_BY_FIELD]: 'arn:aws:states:eu-west-1:111111111111:execution:Parent:p-1' });
    expect(r.status).toBe('SUCCEEDED');
    expect(r.output).not.toHaveProperty(STARTED_BY_FIELD);
    expect(r.output.shard).toEqual({});
  });

  test('a STARTED_BY_FIELD that is not a string is an unknown field', async () => {
    const r = await validate({ script: 'run.sh', [STARTED_BY_FIELD]: 42 });
    expect(r.error).toBe('Input.UnknownFields');
  });

  test('an unknown field is still refused next to both parent fields', async () => {
    const r = await validate({ script: 'run.sh', shard: { index: 0, count: 1, value: 'a' }, [STARTED_BY_FIELD]: 'arn:x', extra: 1 });
    expect(r.error).toBe('Input.UnknownFields');
    expect(r.cause).toMatch(/"shard", "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"/);
  });
});

describe('shard (fan-out runs)', () => {
  test.each<[string, unknown]>([
    ['a string value', { index: 2, count: 5, value: 'part-2' }],
    ['an object value', { index: 0, count: 1, value: { prefix: 'in/0/' } }],
  ])('%s: accepted and kept in the run state', async (_name, shard) => {
    const r = await validate({ script: 'run.sh', shard });
    expect(r.status).toBe('SUCCEEDED');
    expect(r.output.shard).toEqual(shard);
  });

  test.each<[string, unknown]>([
    ['not an object', 'part-2'],
    ['a list', [0, 5, 'x']],
    ['a string index', { index: '2', count: 5, value: 'x' }],
    ['no count', { index: 2, value: 'x' }],
    ['no value', { index: 2, count: 5 }],
  ])('%s: Input.InvalidShard', async (_name, shard) => {
    const r = await validate({ script: 'run.sh', shard });
    expect(r.error).toBe('Input.InvalidShard');
  });

  test('reaches the task document through the whole run', async () => {
    const shard = { index: 3, count: 5, value: 'part-3' };
    const r = await runLocally(definition, { script: 'run.sh', shard }, happyHandlers());
    expect(r.status).toBe('SUCCEEDED');
    expect(r.calls[STATES.PAUSE][0].Body.shard).toEqual(shard);
  });

  test('the runtime exports it as SSP_SHARD_INDEX, SSP_SHARD_COUNT and SSP_SHARD; nothing without a shard', () => {
    expect(shardEnv({ index: 3, count: 5, value: 'part-3' })).toEqual({ [SHARD_ENV.INDEX]: '3', [SHARD_ENV.COUNT]: '5', [SHARD_ENV.VALUE]: 'part-3' });
    expect(shardEnv({ index: 0, count: 1, value: { prefix: 'in/' } })[SHARD_ENV.VALUE]).toBe('{"prefix":"in/"}');
    expect(shardEnv({})).toEqual({});
    expect(shardEnv(undefined)).toEqual({});
  });
});
