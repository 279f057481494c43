/**
 * The task document (src/runtime/task-document.ts): reading and checking it, and checking its `env`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { cleanupTmp, tmpDir } from './harness';
import * as protocol from '../../src/protocol';
import { checkJobEnv, ENV_NAME_PATTERN, parseTaskDocument, readTaskDocument, TaskDocumentError } from '../../src/runtime';

afterAll(() => cleanupTmp());

describe('readTaskDocument', () => {
  const valid = {
    taskToken: 'tok',
    executionArn: 'arn:aws:states:us-east-2:1:execution:sm:e',
    executionName: 'e',
    script: 'jobs/a.sh',
    args: ['x', 'y'],
    heartbeatSeconds: 60,
  };

  test('reads a valid document (and ignores unknown fields)', () => {
    const file = path.join(tmpDir(), 'task.json');
    fs.writeFileSync(file, JSON.stringify({ ...valid, extra: true }));
    expect(readTaskDocument(file)).toEqual(valid);
  });

  test.each([
    ['taskToken', undefined, '"taskToken" is missing'],
    ['taskToken', '', '"taskToken" must not be empty'],
    ['executionArn', 5, '"executionArn" must be a string, got a number'],
    ['executionName', undefined, '"executionName" is missing'],
    ['script', null, '"script" is missing'],
    ['args', undefined, '"args" is missing'],
    ['args', ['a', 2], '"args[1]" must be a string, got a number'],
    ['heartbeatSeconds', '60', '"heartbeatSeconds" must be a positive number, got "60"'],
    ['heartbeatSeconds', 0, '"heartbeatSeconds" must be a positive number, got 0'],
  ])('%s = %j: names the field', (field, value, message) => {
    const doc: Record<string, unknown> = { ...valid, [field]: value };
    if (value === undefined) delete doc[field];
    expect(() => parseTaskDocument(doc, 'doc.json')).toThrow(TaskDocumentError);
    expect(() => parseTaskDocument(doc, 'doc.json')).toThrow(`task document doc.json: ${message}`);
  });

  test('every problem is reported at once, in one message', () => {
    const { taskToken: _t, ...rest } = valid;
    const doc = { ...rest, args: 'x', heartbeatSeconds: -1, attempt: 0 };
    expect(() => parseTaskDocument(doc, 'doc.json')).toThrow(
      'task document doc.json: "taskToken" is missing; "args" must be an array of strings, got a string; ' +
        '"heartbeatSeconds" must be a positive number, got -1; "attempt" must be a positive integer, got 0',
    );
  });

  test('optional env, userInput and attempt are kept; env is passed through unchecked (runJob reports Job.InvalidEnv)', () => {
    expect(parseTaskDocument({ ...valid, env: { A: '1' }, userInput: 'echo hi', attempt: 2 })).toEqual({ ...valid, env: { A: '1' }, userInput: 'echo hi', attempt: 2 });
    expect(parseTaskDocument({ ...valid, env: { 'A': 1, 'B C': 'x' } }).env).toEqual({ 'A': 1, 'B C': 'x' });
    // null means absent.
    expect(parseTaskDocument({ ...valid, env: null, userInput: null, attempt: null })).toEqual(valid);
  });

  test('script may be empty (or absent) only with userInput', () => {
    expect(parseTaskDocument({ ...valid, script: '', userInput: 'echo hi' }).script).toBe('');
    const { script: _script, ...withoutScript } = valid;
    expect(parseTaskDocument({ ...withoutScript, userInput: 'echo hi' })).toEqual({ ...withoutScript, script: '', userInput: 'echo hi' });
    expect(() => parseTaskDocument({ ...valid, script: '' }, 'doc.json')).toThrow('task document doc.json: "script" must not be empty');
    expect(() => parseTaskDocument(withoutScript, 'doc.json')).toThrow('"script" is missing');
    expect(() => parseTaskDocument({ ...valid, script: 5, userInput: 'x' })).toThrow('"script" must be a string, got a number');
  });

  test.each([
    ['userInput', 42, '"userInput" must be a string, got a number'],
    ['attempt', 0, '"attempt" must be a positive integer, got 0'],
    ['attempt', 1.5, '"attempt" must be a positive integer, got 1.5'],
    ['attempt', '2', '"attempt" must be a positive integer, got "2"'],
  ])('%s = %j: names the field', (field, value, message) => {
    expect(() => parseTaskDocument({ ...valid, [field]: value }, 'doc.json')).toThrow(`task document doc.json: ${message}`);
  });

  test('unreadable file, invalid JSON, not an object', () => {
    const dir = tmpDir();
    expect(() => readTaskDocument(path.join(dir, 'missing.json'))).toThrow(/cannot read task document .*missing\.json/);
    fs.writeFileSync(path.join(dir, 'bad.json'), '{"taskToken": ');
    expect(() => readTaskDocument(path.join(dir, 'bad.json'))).toThrow(/bad\.json is not valid JSON/);
    expect(() => parseTaskDocument([valid])).toThrow('must be a JSON object');
  });
});

describe('checkJobEnv', () => {
  test('accepts absent env, and names like [A-Za-z_][A-Za-z0-9_]* with string values', () => {
    expect(checkJobEnv(undefined)).toBeUndefined();
    expect(checkJobEnv(null)).toBeUndefined();
    expect(checkJobEnv({})).toBeUndefined();
    expect(checkJobEnv({ _A: '', b9: 'x y', Z_Z: 'ünïcode\n' })).toBeUndefined();
  });

  test.each([
    ['9A', { '9A': 'x' }, { name: '9A', message: expect.stringContaining('env name "9A" is not a valid environment variable name') }],
    ['empty name', { '': 'x' }, { name: '', message: expect.stringContaining('env name "" is not a valid') }],
    ['A=B', { 'A=B': 'x' }, { name: 'A=B', message: expect.stringContaining('"A=B"') }],
    ['boolean', { FLAG: true }, { name: 'FLAG', message: 'env value of FLAG must be a string, got a boolean' }],
    ['null value', { V: null }, { name: 'V', message: 'env value of V must be a string, got null' }],
    ['object value', { V: { a: 1 } }, { name: 'V', message: 'env value of V must be a string, got an object' }],
    ['string env', 'A=1', { message: '"env" must be an object of string values, got a string' }],
  ])('%s: names the problem', (_name, env, problem) => {
    expect(checkJobEnv(env)).toEqual(problem);
  });

  test('the name pattern is the protocol\'s (one regex for the workflow, the construct and the runtime)', () => {
    expect(ENV_NAME_PATTERN).toBe(protocol.ENV_NAME_PATTERN);
    expect(checkJobEnv({ 'NO-DASH': 'x' })!.message).toContain(protocol.ENV_NAME_PATTERN.source);
  });
});
