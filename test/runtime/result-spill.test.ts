/**
 * Results too large to return inline (src/runtime/result-spill.ts, src/runtime/job-outcome.ts): `run --spill-to`
 * stores them in S3 and names them in the task output, against the fake Step Functions and the fake S3 endpoints,
 * through the bundled runtime and in-process.
 */
import * as fs from 'fs';
import * as path from 'path';
import { PassThrough } from 'stream';
import {
  cleanupTmp, cliEnv, FAST_RETRY, logCapture, offlineAwsEnv, requireBundle, runCli, tmpDir, useProcessEnv, writeTask,
} from './harness';
import { CLI_EXIT, JOB_ERRORS, MAX_INLINE_RESULT_BYTES, RESULT_OBJECT_NAME } from '../../src/protocol';
import { MAX_RESULT_FILE_BYTES, parseSpillLocation, runJob, spilledResultUrl } from '../../src/runtime';
import { FakeS3 } from '../support/fake-s3';
import { FakeStepFunctions } from '../support/fake-sfn';

const BUCKET = 'job-bucket';
/** The bootstrap's choice: the run's own prefix, beside output.log. */
const PREFIX = 'pipeline/runs/AROAEXAMPLEROLEID:i-0123456789abcdef0/exec-1/';
const SPILL_TO = `s3://${BUCKET}/${PREFIX}`;
const RESULT_KEY = `${PREFIX}${RESULT_OBJECT_NAME}`;
const MIB = 1024 * 1024;

let sfn: FakeStepFunctions;
let s3: FakeS3;
const logs = logCapture();

beforeAll(async () => {
  requireBundle();
  sfn = new FakeStepFunctions();
  s3 = new FakeS3();
  await Promise.all([sfn.start(), s3.start()]);
});
// For the in-process runs.
useProcessEnv(() => ({ ...offlineAwsEnv('us-east-2'), AWS_ENDPOINT_URL_SFN: sfn.url, AWS_ENDPOINT_URL_S3: s3.url, SSP_SPOT_CHECK: '0' }));

afterEach(() => {
  sfn.clearFaults();
  s3.clearFaults();
  s3.requests.length = 0;
  logs.lines.length = 0;
});

afterAll(async () => {
  await Promise.all([sfn.dispose(), s3.stop()]);
  cleanupTmp();
});

/** The compact JSON of a result of exactly `bytes` bytes: `{"data":"xxx…"}`. */
function resultOfBytes(bytes: number): string {
  const json = JSON.stringify({ data: 'x'.repeat(bytes - '{"data":""}'.length) });
  expect(Buffer.byteLength(json)).toBe(bytes);
  return json;
}

/** A job (node) that prints a line and writes `json`, pretty-printed (the runtime measures the compact form). */
function resultJob(dir: string, json: string): string[] {
  const source = path.join(dir, `result-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(source, json);
  const script = 'const fs = require("fs"); console.log("working");'
    + `fs.writeFileSync(process.env.SSP_RESULT_FILE, JSON.stringify(JSON.parse(fs.readFileSync(${JSON.stringify(source)}, "utf8")), null, 2));`;
  return [process.execPath, '-e', script];
}

function runWith(dir: string, token: string, job: string[], extra: string[] = []) {
  return runCli(['run', '--task-file', writeTask(dir, token), ...extra, '--', ...job], cliEnv(sfn.url, { AWS_ENDPOINT_URL_S3: s3.url }));
}

describe('run --spill-to', () => {
  test('a 1 MiB result is stored in S3 beside the log; the task output names its location and size', async () => {
    const dir = tmpDir();
    const token = sfn.addToken();
    const json = resultOfBytes(MIB);
    const res = await runWith(dir, token, resultJob(dir, json), ['--spill-to', SPILL_TO]);

    expect(res.code).toBe(CLI_EXIT.OK);
    const stored = s3.getObject(BUCKET, RESULT_KEY);
    expect(stored?.body.toString('utf8')).toBe(json);
    expect(stored?.contentType).toBe('application/json');
    expect(s3.requestsFor('PUT')).toEqual([expect.objectContaining({ key: RESULT_KEY, signed: true, status: 200 })]);

    const [final] = sfn.finalsFor(token);
    expect(final.action).toBe('SendTaskSuccess');
    expect(final.output).toEqual({
      exitCode: 0,
      durationSeconds: expect.any(Number),
      outputTail: 'working\n',
      resultLocation: `s3://${BUCKET}/${RESULT_KEY}`,
      resultBytes: MIB,
    });
    expect(Buffer.byteLength(final.outputRaw!)).toBeLessThan(1024);
    expect(res.stderr).toContain(`the result is ${MIB} bytes, over the ${MAX_INLINE_RESULT_BYTES} returned inline: storing it at s3://${BUCKET}/${RESULT_KEY}`);
  });

  test('a result of exactly MAX_INLINE_RESULT_BYTES stays inline (S3 is not called); one byte more is stored', async () => {
    const dir = tmpDir();
    const atCap = sfn.addToken();
    const json = resultOfBytes(MAX_INLINE_RESULT_BYTES);
    expect((await runWith(dir, atCap, resultJob(dir, json), ['--spill-to', SPILL_TO])).code).toBe(CLI_EXIT.OK);
    expect(sfn.finalsFor(atCap)[0].output.result).toEqual(JSON.parse(json));
    expect(sfn.finalsFor(atCap)[0].output).not.toHaveProperty('resultLocation');
    expect(s3.requests).toHaveLength(0);

    const overCap = sfn.addToken();
    const bigger = resultOfBytes(MAX_INLINE_RESULT_BYTES + 1);
    expect((await runWith(dir, overCap, resultJob(dir, bigger), ['--spill-to', SPILL_TO])).code).toBe(CLI_EXIT.OK);
    expect(sfn.finalsFor(overCap)[0].output).toMatchObject({ resultLocation: `s3://${BUCKET}/${RESULT_KEY}`, resultBytes: MAX_INLINE_RESULT_BYTES + 1 });
    expect(sfn.finalsFor(overCap)[0].output).not.toHaveProperty('result');
    expect(s3.getObject(BUCKET, RESULT_KEY)?.body.toString()).toBe(bigger);
  });

  test('without --spill-to, a 1 MiB result fails with Job.InvalidResult saying why and what is missing', async () => {
    const dir = tmpDir();
    const token = sfn.addToken();
    const res = await runWith(dir, token, resultJob(dir, resultOfBytes(MIB)));

    expect(res.code).toBe(CLI_EXIT.JOB_FAILED);
    const [final] = sfn.finalsFor(token);
    expect(final.error).toBe(JOB_ERRORS.INVALID_RESULT);
    const cause = JSON.parse(final.cause!);
    expect(cause).toEqual({ exitCode: 0, durationSeconds: expect.any(Number), message: expect.any(String), outputTail: 'working\n' });
    expect(cause.message).toContain(`the result is ${MIB} bytes of JSON, over the ${MAX_INLINE_RESULT_BYTES} returned inline`);
    expect(cause.message).toContain('no S3 location to store it in (run --spill-to)');
    expect(s3.requests).toHaveLength(0);
  });

  test('S3 refuses the upload (AccessDenied): Job.ResultNotStored, naming the location and the error', async () => {
    const dir = tmpDir();
    const token = sfn.addToken();
    const prefix = 'pipeline/runs/AROAEXAMPLEROLEID:i-0123456789abcdef0/exec-denied/';
    s3.injectFault({ method: 'PUT', fault: 'AccessDenied' });
    const res = await runWith(dir, token, resultJob(dir, resultOfBytes(MIB)), ['--spill-to', `s3://${BUCKET}/${prefix}`]);

    expect(res.code).toBe(CLI_EXIT.JOB_FAILED);
    const [final] = sfn.finalsFor(token);
    expect(final.error).toBe(JOB_ERRORS.RESULT_NOT_STORED);
    const cause = JSON.parse(final.cause!);
    expect(cause).toEqual({ exitCode: 0, durationSeconds: expect.any(Number), message: expect.any(String), resultBytes: MIB, outputTail: 'working\n' });
    expect(cause.message).toMatch(new RegExp(`^the result \\(${MIB} bytes\\) could not be stored at s3://${BUCKET}/${prefix}result.json: AccessDenied`));
    // Not retried: a refusal will not change.
    expect(s3.requestsFor('PUT')).toHaveLength(1);
    expect(s3.keys(BUCKET, 'pipeline/runs/AROAEXAMPLEROLEID:i-0123456789abcdef0/exec-denied/')).toEqual([]);
  });

  test('throttling and server errors are retried, then the result is stored', async () => {
    const dir = tmpDir();
    const token = sfn.addToken();
    s3.injectFault({ method: 'PUT', fault: 'SlowDown' });
    s3.injectFault({ method: 'PUT', fault: 500 });
    const res = await runWith(dir, token, resultJob(dir, resultOfBytes(64 * 1024)), ['--spill-to', SPILL_TO]);

    expect(res.code).toBe(CLI_EXIT.OK);
    expect(s3.requestsFor('PUT').map((r) => r.status)).toEqual([503, 500, 200]);
    expect(sfn.finalsFor(token)[0].output.resultBytes).toBe(64 * 1024);
  });

  test('heartbeats go on while a slow upload runs, so the task outlives its heartbeat timeout', async () => {
    const dir = tmpDir();
    // The fake times the token out after 2 s without a heartbeat; the upload takes 5 s.
    const token = sfn.addToken(undefined, { heartbeatSeconds: 2 });
    s3.injectFault({ method: 'PUT', fault: { delayMs: 5_000 } });
    const task = writeTask(dir, token, { heartbeatSeconds: 2 });
    const res = await runCli(
      ['run', '--task-file', task, '--spill-to', SPILL_TO, '--', ...resultJob(dir, resultOfBytes(MIB))],
      cliEnv(sfn.url, { AWS_ENDPOINT_URL_S3: s3.url, SSP_HEARTBEAT_INTERVAL_MS: '250' }),
    );

    expect(res.code).toBe(CLI_EXIT.OK);
    const [final] = sfn.finalsFor(token);
    expect(final.action).toBe('SendTaskSuccess');
    const put = s3.requestsFor('PUT')[0];
    const heartbeatsDuringUpload = sfn.callsFor('SendTaskHeartbeat', token).filter((c) => c.time > put.time && c.time < final.time);
    expect(heartbeatsDuringUpload.length).toBeGreaterThanOrEqual(6);
  });

  test('a result file over MAX_RESULT_FILE_BYTES is Job.InvalidResult without being read or stored', async () => {
    const dir = tmpDir();
    const token = sfn.addToken();
    // A sparse file: the size is checked before anything is read.
    const res = await runWith(dir, token, ['bash', '-c', `truncate -s ${MAX_RESULT_FILE_BYTES + 1} "$SSP_RESULT_FILE"`], ['--spill-to', SPILL_TO]);
    expect(res.code).toBe(CLI_EXIT.JOB_FAILED);
    const [final] = sfn.finalsFor(token);
    expect(final.error).toBe(JOB_ERRORS.INVALID_RESULT);
    expect(JSON.parse(final.cause!).message).toBe(
      `SSP_RESULT_FILE is ${MAX_RESULT_FILE_BYTES + 1} bytes; the runtime takes results of at most ${MAX_RESULT_FILE_BYTES} bytes `
      + '(store bulk data in S3 and return its location)',
    );
    expect(s3.requests).toHaveLength(0);
  });
});

describe('runJob({ spill }) (in-process)', () => {
  const quiet = () => ({ stdout: new PassThrough(), stderr: new PassThrough(), log: logs.log, handleSignals: false });

  test('an upload that keeps failing: Job.ResultNotStored after the retry policy\'s attempts', async () => {
    const token = sfn.addToken();
    s3.injectFault({ method: 'PUT', fault: 503, times: Infinity });
    const result = await runJob({
      ...quiet(),
      task: { taskToken: token, heartbeatSeconds: 2 },
      command: process.execPath,
      args: ['-e', `require("fs").writeFileSync(process.env.SSP_RESULT_FILE, ${JSON.stringify(resultOfBytes(MAX_INLINE_RESULT_BYTES + 100))})`],
      spill: { location: SPILL_TO, retry: FAST_RETRY },
    });
    expect(result).toMatchObject({ outcome: 'failed', exitCode: CLI_EXIT.JOB_FAILED, jobExitCode: 0, error: JOB_ERRORS.RESULT_NOT_STORED });
    expect(s3.requestsFor('PUT')).toHaveLength(FAST_RETRY.maxAttempts);
    expect(JSON.parse(result.cause!).message).toMatch(/could not be stored at .*: InternalError HTTP 503/);
    expect(logs.lines.filter((l) => l.startsWith(`PutObject s3://${BUCKET}/${RESULT_KEY} failed`))).toHaveLength(FAST_RETRY.maxAttempts - 1);
  });

  test('an invalid spill location rejects before the token is claimed', async () => {
    const token = sfn.addToken();
    await expect(runJob({ ...quiet(), task: { taskToken: token, heartbeatSeconds: 2 }, command: 'true', spill: { location: 'https://job-bucket/x/' } }))
      .rejects.toThrow('must be s3://BUCKET/PREFIX/, got "https://job-bucket/x/"');
    expect(sfn.callsFor(undefined, token)).toHaveLength(0);
  });
});

describe('parseSpillLocation', () => {
  test('bucket and key prefix, taken as written; a missing trailing slash is added', () => {
    expect(parseSpillLocation(SPILL_TO)).toEqual({ bucket: BUCKET, prefix: PREFIX });
    expect(parseSpillLocation('s3://job-bucket/runs/a b%20c/é')).toEqual({ bucket: 'job-bucket', prefix: 'runs/a b%20c/é/' });
    expect(parseSpillLocation('s3://job-bucket/')).toEqual({ bucket: 'job-bucket', prefix: '' });
    expect(parseSpillLocation('s3://job-bucket')).toEqual({ bucket: 'job-bucket', prefix: '' });
    expect(spilledResultUrl({ bucket: 'b.example', prefix: 'p/' })).toBe('s3://b.example/p/result.json');
  });

  test.each([
    ['another scheme', 'https://job-bucket/p/', /must be s3:\/\/BUCKET\/PREFIX\/, got "https:\/\/job-bucket\/p\/"/],
    ['no bucket', 's3:///p/', /"" is not an S3 bucket name/],
    ['an upper-case bucket', 's3://Job-Bucket/p/', /"Job-Bucket" is not an S3 bucket name/],
    ['a two-letter bucket', 's3://ab/p/', /"ab" is not an S3 bucket name/],
    ['a control character', 's3://job-bucket/p\n/', /must not contain control characters/],
    ['a DEL character', 's3://job-bucket/p\u007f/', /must not contain control characters/],
  ])('%s is refused', (_name, url, message) => {
    expect(() => parseSpillLocation(url)).toThrow(message);
  });

  test('the key (prefix + result.json) must fit S3\'s 1,024 bytes, counted in UTF-8', () => {
    const fits = 'p'.repeat(1024 - RESULT_OBJECT_NAME.length - 1);
    expect(parseSpillLocation(`s3://job-bucket/${fits}/`).prefix).toBe(`${fits}/`);
    expect(() => parseSpillLocation(`s3://job-bucket/${fits}p/`)).toThrow('the key would be 1025 bytes; S3 keys are at most 1024'.replace('key would', `key ${fits}p/result.json would`));
    // 'é' is 2 bytes in UTF-8.
    expect(() => parseSpillLocation(`s3://job-bucket/${'é'.repeat(507)}/`)).toThrow(/would be 1026 bytes/);
  });
});
