/**
 * The local runner's stand-in for Step Functions' task-token callbacks and S3 PutObject (src/local/endpoint.ts),
 * called with the AWS SDK clients the runtime uses.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { LocalEndpoint } from '../../src/local/endpoint';

const credentials = { accessKeyId: 'AKIALOCALLOCALLOCAL0', secretAccessKey: 'local' };
let dir: string;
let endpoint: LocalEndpoint;
let sfn: SFNClient;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssp-local-endpoint-'));
  endpoint = new LocalEndpoint(dir);
  await endpoint.start();
  sfn = new SFNClient({ endpoint: endpoint.url, region: 'us-east-1', credentials, maxAttempts: 1 });
});

afterAll(async () => {
  sfn.destroy();
  await endpoint.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('SendTaskSuccess settles the waiting token with the parsed output; the token is closed after', async () => {
  const waiting = endpoint.waitFor('t-ok');
  await sfn.send(new SendTaskHeartbeatCommand({ taskToken: 't-ok' }));
  await sfn.send(new SendTaskSuccessCommand({ taskToken: 't-ok', output: '{"exitCode":0}' }));
  await expect(waiting).resolves.toEqual({ ok: true, output: { exitCode: 0 } });
  expect(endpoint.heartbeats.get('t-ok')).toBe(1);
  // A closed token answers TaskTimedOut, as AWS does (test/fixtures/aws/sfn-api-task-timed-out.json).
  await expect(sfn.send(new SendTaskHeartbeatCommand({ taskToken: 't-ok' }))).rejects.toMatchObject({ name: 'TaskTimedOut' });
});

test('SendTaskFailure settles the waiting token with its error and cause', async () => {
  const waiting = endpoint.waitFor('t-fail');
  await sfn.send(new SendTaskFailureCommand({ taskToken: 't-fail', error: 'Job.NonZeroExit', cause: '{"exitCode":3}' }));
  await expect(waiting).resolves.toEqual({ ok: false, error: 'Job.NonZeroExit', cause: '{"exitCode":3}' });
});

test('a token never handed out answers InvalidToken', async () => {
  await expect(sfn.send(new SendTaskSuccessCommand({ taskToken: 'nobody', output: '{}' }))).rejects.toMatchObject({ name: 'InvalidToken' });
});

test('without a heartbeat for HeartbeatSeconds the token fails with States.HeartbeatTimeout', async () => {
  const outcome = await endpoint.waitFor('t-silent', 1);
  expect(outcome).toEqual({ ok: false, error: 'States.HeartbeatTimeout', cause: 'no heartbeat for 1 s (local run)' });
  await expect(sfn.send(new SendTaskSuccessCommand({ taskToken: 't-silent', output: '{}' }))).rejects.toMatchObject({ name: 'TaskTimedOut' });
});

test('PutObject (path style, as the runtime sends it with AWS_ENDPOINT_URL_S3) writes into the bucket folder', async () => {
  const s3 = new S3Client({ endpoint: endpoint.url, region: 'us-east-1', credentials, forcePathStyle: true, maxAttempts: 1 });
  await s3.send(new PutObjectCommand({ Bucket: 'job-bucket', Key: 'pipeline/runs/e/r:i/result.json', Body: '{"big":true}' }));
  s3.destroy();
  expect(fs.readFileSync(path.join(dir, 'job-bucket', 'pipeline/runs/e/r:i/result.json'), 'utf8')).toBe('{"big":true}');
});
