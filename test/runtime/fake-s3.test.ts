/**
 * The fake S3 endpoint (test/support/fake-s3.ts), through the real SDK client and the runtime's own S3 client factory:
 * the activity suite relies on it answering like S3.
 */
// Until @aws-sdk/client-s3 is listed in devDependencies (the runtime bundles it).
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { offlineAwsEnv } from './harness';
import { createS3Client } from '../../src/runtime';
import { FakeS3, parseTagging } from '../support/fake-s3';

let s3: FakeS3;
let client: S3Client;
const saved = { ...process.env };

beforeAll(async () => {
  s3 = new FakeS3();
  await s3.start();
  Object.assign(process.env, {
    ...offlineAwsEnv(),
    AWS_ENDPOINT_URL_S3: s3.url,
  });
  client = createS3Client();
});

afterEach(() => s3.clearFaults());

afterAll(async () => {
  client.destroy();
  process.env = saved;
  await s3.stop();
});

type SdkError = { name: string; $metadata?: { httpStatusCode?: number } };
const errorOf = (p: Promise<unknown>) => p.then(() => undefined, (e: SdkError) => [e.name, e.$metadata?.httpStatusCode]);

test('the runtime\'s client goes to AWS_ENDPOINT_URL_S3, path-style; PUT keeps body and tags, GET returns them', async () => {
  await client.send(new PutObjectCommand({
    Bucket: 'job-bucket',
    Key: 'pipeline/handoff/i-1.json',
    Body: '{"taskToken":"t"}',
    ContentType: 'application/json',
    Tagging: `ssp-owner=${encodeURIComponent('AROA123:i-1')}&other=a%20b`,
  }));
  const [put] = s3.requestsFor('PUT');
  expect(put).toMatchObject({ bucket: 'job-bucket', key: 'pipeline/handoff/i-1.json', signed: true, status: 200, body: '{"taskToken":"t"}' });
  expect(put.tags).toEqual({ 'ssp-owner': 'AROA123:i-1', 'other': 'a b' });
  expect(s3.getObject('job-bucket', 'pipeline/handoff/i-1.json')).toMatchObject({ tags: { 'ssp-owner': 'AROA123:i-1', 'other': 'a b' }, contentType: 'application/json' });
  expect(s3.keys('job-bucket', 'pipeline/')).toEqual(['pipeline/handoff/i-1.json']);

  const got = await client.send(new GetObjectCommand({ Bucket: 'job-bucket', Key: 'pipeline/handoff/i-1.json' }));
  expect(await got.Body!.transformToString()).toBe('{"taskToken":"t"}');
});

test('a missing key is 404 NoSuchKey; faults answer S3 error codes', async () => {
  expect(await errorOf(client.send(new GetObjectCommand({ Bucket: 'job-bucket', Key: 'nope.json' })))).toEqual(['NoSuchKey', 404]);
  s3.injectFault({ method: 'GET', fault: 'AccessDenied' });
  s3.injectFault({ method: 'PUT', key: 'k', fault: 'SlowDown' });
  expect(await errorOf(client.send(new GetObjectCommand({ Bucket: 'b', Key: 'x' })))).toEqual(['AccessDenied', 403]);
  expect(await errorOf(client.send(new PutObjectCommand({ Bucket: 'b', Key: 'other', Body: 'x' })))).toBeUndefined();
  expect(await errorOf(client.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x' })))).toEqual(['SlowDown', 503]);
  expect(s3.requestsFor('PUT', 'k')[0]).toMatchObject({ status: 503, code: 'SlowDown' });
});

test('without AWS_ENDPOINT_URL_S3 the client is virtual-hosted style (forcePathStyle only for the override)', async () => {
  const c = createS3Client({});
  expect(await c.config.forcePathStyle).toBeFalsy();
  c.destroy();
  expect(await client.config.forcePathStyle).toBe(true);
  expect(parseTagging('a=1&b=x%3Ay')).toEqual({ a: '1', b: 'x:y' });
});

test('a plain S3Client reaches the fake the same way', async () => {
  const c = new S3Client({ endpoint: s3.url, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
  s3.putObject('bkt', 'dir/a b.txt', 'hello');
  const got = await c.send(new GetObjectCommand({ Bucket: 'bkt', Key: 'dir/a b.txt' }));
  expect(await got.Body!.transformToString()).toBe('hello');
  c.destroy();
});
