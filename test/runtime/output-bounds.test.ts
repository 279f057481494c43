/**
 * The largest task output and failure cause the runtime can produce, and the SNS notification that carries them
 * (src/private/workflow.ts puts the task output, or the failure's error and cause, into one message), against SNS's
 * and Step Functions' 262,144-byte limits.
 *
 * Worst cases, in bytes of UTF-8:
 * - success output: the JSON frame (under 100 bytes) + the output tail (OUTPUT_TAIL_BYTES of job output, each byte at
 *   most 6 bytes of JSON: a control byte becomes `\u00XX`) + an inline result (at most MAX_INLINE_RESULT_BYTES: its
 *   compact JSON is what is measured) = at most 100 + 6 x 4,096 + 32,768 = 57,444;
 * - failure cause: at most MAX_CAUSE_CHARS UTF-16 units, each at most 6 bytes once escaped again inside the message.
 * The notification is checked with two serializers: plain JSON (what JSON.stringify writes), and a pessimistic one that
 * writes every character of every string as `\uXXXX` (6 bytes), more than any JSON serializer writes, so the bound
 * holds whatever Step Functions' serializer escapes.
 */
import * as fs from 'fs';
import * as path from 'path';
import { cliEnv, runCli, tmpDir, useBundleWithFakeSfn, writeTask } from './harness';
import { CLI_EXIT, JOB_ERRORS, MAX_CAUSE_CHARS, MAX_ERROR_CHARS, MAX_INLINE_RESULT_BYTES, OUTPUT_TAIL_BYTES } from '../../src/protocol';
import { awsFixture } from '../support/aws-fixtures';

/** SNS: "messages must be UTF-8 encoded strings and at most 256 KB in size (262,144 bytes, not 262,144 characters)". */
const SNS_MAX_MESSAGE_BYTES = 262_144;
/** The JSON frame of a success output around the tail and the result: keys, quotes, exit code, duration. */
const SUCCESS_FRAME_BYTES = 100;
/** The worst case of a success output, worked out above. */
const WORST_SUCCESS_OUTPUT_BYTES = SUCCESS_FRAME_BYTES + 6 * OUTPUT_TAIL_BYTES + MAX_INLINE_RESULT_BYTES;

const sfn = useBundleWithFakeSfn();

test('the SNS limit used here is the one the fixture quotes', () => {
  expect(awsFixture('sns-publish-limits').quote).toContain('at most 256 KB in size (262,144 bytes, not 262,144 characters)');
});

/**
 * The notification src/private/workflow.ts publishes, with every field it adds at its longest: pipeline ID (stack
 * name up to 128 characters, "-", 8), execution name (80 characters, not ASCII), execution ARN, instance ID, and
 * the log's S3 URL (bucket name up to 63, key up to 1,024 bytes).
 */
function notification(status: 'SUCCEEDED' | 'FAILED', details: Record<string, unknown>): Record<string, unknown> {
  const execution = 'é'.repeat(80);
  return {
    status,
    pipeline: `${'S'.repeat(128)}-abcdef12`,
    execution,
    executionArn: `arn:aws-us-gov:states:us-gov-west-1:123456789012:execution:${'M'.repeat(80)}:${execution}`,
    attempt: 10,
    maxAttempts: 10,
    instanceId: 'i-0123456789abcdef0',
    ...details,
    log: `s3://${'b'.repeat(63)}/${'k'.repeat(1024)}`,
  };
}

/** JSON with every character of every string (keys too) written as `\uXXXX`: more than any JSON serializer writes. */
function pessimisticJson(value: unknown): string {
  const str = (s: string) => `"${[...Array(s.length).keys()].map((i) => `\\u${s.charCodeAt(i).toString(16).padStart(4, '0')}`).join('')}"`;
  if (typeof value === 'string') return str(value);
  if (Array.isArray(value)) return `[${value.map(pessimisticJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => `${str(k)}:${pessimisticJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function messageBytes(message: Record<string, unknown>): { json: number; pessimistic: number } {
  return { json: Buffer.byteLength(JSON.stringify(message), 'utf8'), pessimistic: Buffer.byteLength(pessimisticJson(message), 'utf8') };
}

/**
 * A job (node) that prints 12 KiB of binary output ending with 8 KiB of a control byte (6 bytes each in JSON), then
 * writes `result` (a JS expression) as its result.
 */
function worstCaseJob(result: string, exitCode = 0): string[] {
  const script = [
    'const binary = Buffer.alloc(4096); for (let i = 0; i < binary.length; i++) binary[i] = (i * 131) % 256;',
    'process.stdout.write(binary);',
    'process.stdout.write(Buffer.alloc(8192, 1));',
    `require("fs").writeFileSync(process.env.SSP_RESULT_FILE, JSON.stringify(${result}));`,
    `process.exitCode = ${exitCode};`,
  ].join('\n');
  return [process.execPath, '-e', script];
}

describe('success: the task output and its notification', () => {
  // Each result's compact JSON is exactly MAX_INLINE_RESULT_BYTES, so it stays inline.
  const controlChars = (MAX_INLINE_RESULT_BYTES - 2) / 6; // "\u0001" is 6 bytes of JSON
  test.each([
    ['control characters (6 bytes each in JSON)', `"\\u0001".repeat(${controlChars})`],
    ['plain ASCII (6 bytes each for the pessimistic serializer)', `"a".repeat(${MAX_INLINE_RESULT_BYTES - 2})`],
  ])('the largest inline result, of %s, and a binary output tail', async (_name, result) => {
    expect(Number.isInteger(controlChars)).toBe(true);
    const dir = tmpDir();
    const token = sfn.addToken();
    const res = await runCli(['run', '--task-file', writeTask(dir, token), '--', ...worstCaseJob(result)], cliEnv(sfn.url));
    expect(res.code).toBe(CLI_EXIT.OK);

    const [final] = sfn.finalsFor(token);
    expect(Buffer.byteLength(JSON.stringify(final.output.result))).toBe(MAX_INLINE_RESULT_BYTES);
    expect(final.output.outputTail).toBe('\u0001'.repeat(OUTPUT_TAIL_BYTES));
    // The task output is the worst case worked out above (and no more).
    const outputBytes = Buffer.byteLength(final.outputRaw!, 'utf8');
    expect(outputBytes).toBeLessThanOrEqual(WORST_SUCCESS_OUTPUT_BYTES);
    expect(outputBytes).toBeGreaterThan(WORST_SUCCESS_OUTPUT_BYTES - SUCCESS_FRAME_BYTES);

    const message = messageBytes(notification('SUCCEEDED', { job: final.output }));
    expect(message.json).toBeLessThan(SNS_MAX_MESSAGE_BYTES);
    expect(message.pessimistic).toBeLessThan(SNS_MAX_MESSAGE_BYTES);
  });
});

describe('failure: the cause and its notification', () => {
  test('a job that prints binary output and fails: the cause holds the whole tail, within MAX_CAUSE_CHARS', async () => {
    const dir = tmpDir();
    const token = sfn.addToken();
    const res = await runCli(['run', '--task-file', writeTask(dir, token), '--', ...worstCaseJob('null', 3)], cliEnv(sfn.url));
    expect(res.code).toBe(CLI_EXIT.JOB_FAILED);

    const [final] = sfn.finalsFor(token);
    expect(final.error).toBe(JOB_ERRORS.NON_ZERO_EXIT);
    expect(JSON.parse(final.cause!).outputTail).toBe('\u0001'.repeat(OUTPUT_TAIL_BYTES));
    expect(final.cause!.length).toBeLessThanOrEqual(MAX_CAUSE_CHARS);
    const message = messageBytes(notification('FAILED', { error: final.error, cause: final.cause }));
    expect(message.json).toBeLessThan(SNS_MAX_MESSAGE_BYTES);
    expect(message.pessimistic).toBeLessThan(SNS_MAX_MESSAGE_BYTES);
  });

  test('the largest failure anyone can send (fail --cause-file, 100 KB of control bytes): cut to the limits, and the notification fits', async () => {
    const dir = tmpDir();
    const token = sfn.addToken();
    const causeFile = path.join(dir, 'cause.txt');
    fs.writeFileSync(causeFile, Buffer.alloc(100 * 1024, 1));
    const res = await runCli(['fail', '--task-file', writeTask(dir, token), '--error', `Job.${'E'.repeat(400)}`, '--cause-file', causeFile], cliEnv(sfn.url));
    expect(res.code).toBe(CLI_EXIT.OK);

    const [final] = sfn.finalsFor(token);
    expect(final.error!.length).toBe(MAX_ERROR_CHARS);
    expect(final.cause!.length).toBe(MAX_CAUSE_CHARS);
    const message = messageBytes(notification('FAILED', { error: final.error, cause: final.cause }));
    // Every character of the cause is 6 bytes in the message here: the worst case for any serializer.
    expect(message.json).toBeGreaterThan(6 * MAX_CAUSE_CHARS);
    expect(message.json).toBeLessThan(SNS_MAX_MESSAGE_BYTES);
    expect(message.pessimistic).toBeLessThan(SNS_MAX_MESSAGE_BYTES);
  });
});
