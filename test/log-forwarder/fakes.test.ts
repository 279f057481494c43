/**
 * The fakes the forwarder's tests rely on, through the real AWS SDK clients: the CloudWatch Logs fake refuses what the
 * service refuses (so "the fake accepted every batch" means something), and the S3 fake answers ranged and
 * conditional reads like S3.
 */
// eslint-disable-next-line import/no-extraneous-dependencies
import { CloudWatchLogsClient, CreateLogStreamCommand, PutLogEventsCommand, ResourceAlreadyExistsException } from '@aws-sdk/client-cloudwatch-logs';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { BUCKET, Fakes, startFakes } from './support';

let fakes: Fakes;
let logs: CloudWatchLogsClient;
let s3: S3Client;

beforeAll(async () => {
  fakes = await startFakes();
  logs = new CloudWatchLogsClient({ maxAttempts: 1 });
  s3 = new S3Client({ forcePathStyle: true, maxAttempts: 1 });
});

beforeEach(() => {
  fakes.logs.reset();
  fakes.logs.createLogGroup('g');
  fakes.logs.createLogStream('g', 's');
});

afterAll(async () => {
  logs.destroy();
  s3.destroy();
  await fakes.stop();
});

type SdkError = { name: string; message: string; $metadata?: { httpStatusCode?: number } };
const errorOf = (p: Promise<unknown>) => p.then(() => undefined, (e: SdkError) => [e.name, e.$metadata?.httpStatusCode, e.message]);
const put = (logEvents: { timestamp: number; message: string }[]) =>
  logs.send(new PutLogEventsCommand({ logGroupName: 'g', logStreamName: 's', logEvents }));

describe('fake CloudWatch Logs', () => {
  test('speaks the JSON 1.1 protocol the SDK uses, and stores events', async () => {
    await logs.send(new CreateLogStreamCommand({ logGroupName: 'g', logStreamName: 'new' }));
    await logs.send(new PutLogEventsCommand({ logGroupName: 'g', logStreamName: 'new', logEvents: [{ timestamp: 1, message: 'hi' }] }));
    expect(fakes.logs.events('g', 'new')).toEqual([{ timestamp: 1, message: 'hi' }]);
    expect(fakes.logs.requests.map((r) => [r.operation, r.signed, r.status])).toEqual([['CreateLogStream', true, 200], ['PutLogEvents', true, 200]]);
  });

  test('an existing stream is ResourceAlreadyExistsException, a missing group or stream ResourceNotFoundException', async () => {
    const existing = await logs.send(new CreateLogStreamCommand({ logGroupName: 'g', logStreamName: 's' })).catch((e: unknown) => e);
    expect(existing).toBeInstanceOf(ResourceAlreadyExistsException);
    expect(await errorOf(logs.send(new CreateLogStreamCommand({ logGroupName: 'missing', logStreamName: 's' })))).toEqual(
      ['ResourceNotFoundException', 400, 'The specified log group does not exist.'],
    );
    expect(await errorOf(logs.send(new PutLogEventsCommand({ logGroupName: 'g', logStreamName: 'missing', logEvents: [{ timestamp: 1, message: 'x' }] })))).toEqual(
      ['ResourceNotFoundException', 400, 'The specified log stream does not exist.'],
    );
    expect((await errorOf(logs.send(new CreateLogStreamCommand({ logGroupName: 'g', logStreamName: 'a:b' }))))?.[0]).toBe('InvalidParameterException');
  });

  test('refuses a batch over 10,000 events', async () => {
    const events = Array.from({ length: 10_001 }, (_, i) => ({ timestamp: i, message: 'x' }));
    expect(await errorOf(put(events))).toEqual(['InvalidParameterException', 400, '10001 events exceed the limit of 10000']);
    expect(await put(events.slice(0, 10_000))).toBeDefined();
  });

  test('refuses a batch over 1,048,576 bytes, counting 26 per event', async () => {
    // 1,024 events of 1,000 bytes: 1,050,624 bytes with the overhead, though the messages alone are 1,024,000.
    const events = Array.from({ length: 1_024 }, (_, i) => ({ timestamp: i, message: 'x'.repeat(1_000) }));
    expect(await errorOf(put(events))).toEqual(['InvalidParameterException', 400, 'Upload too large: 1050624 bytes exceeds limit of 1048576']);
    expect(await put(events.slice(0, 1_022))).toBeDefined();
  });

  test('refuses events out of order, empty messages, and a span over 24 hours', async () => {
    expect((await errorOf(put([{ timestamp: 2, message: 'b' }, { timestamp: 1, message: 'a' }])))?.[2]).toMatch(/chronological order/);
    expect((await errorOf(put([{ timestamp: 1, message: '' }])))?.[2]).toBe('event 0 has an empty message');
    expect((await errorOf(put([{ timestamp: 0, message: 'a' }, { timestamp: 24 * 3600 * 1000 + 1, message: 'b' }])))?.[2]).toMatch(/24 hours/);
  });
});

describe('fake S3: ranged and conditional GetObject', () => {
  beforeAll(() => fakes.s3.putObject(BUCKET, 'pipeline/runs/r/i/output.log', '0123456789'));
  const key = 'pipeline/runs/r/i/output.log';

  test('a plain GET gives Last-Modified and an MD5 ETag', async () => {
    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(await got.Body!.transformToString()).toBe('0123456789');
    expect(got.ETag).toBe('"781e5e245d69b566979b86e28d23f2c7"');
    expect(Math.abs(got.LastModified!.getTime() - fakes.s3.getObject(BUCKET, key)!.time)).toBeLessThan(1000);
  });

  test('Range gives 206 and Content-Range; a range past the end is 416 InvalidRange', async () => {
    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, Range: 'bytes=7-9' }));
    expect(await got.Body!.transformToString()).toBe('789');
    expect([got.$metadata.httpStatusCode, got.ContentRange, got.ContentLength]).toEqual([206, 'bytes 7-9/10', 3]);
    const clamped = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, Range: 'bytes=8-100' }));
    expect(await clamped.Body!.transformToString()).toBe('89');
    expect((await errorOf(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, Range: 'bytes=10-20' }))))?.slice(0, 2)).toEqual(['InvalidRange', 416]);
  });

  test('If-Match with another ETag is 412 PreconditionFailed', async () => {
    expect((await errorOf(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, IfMatch: '"other"' }))))?.slice(0, 2)).toEqual(['PreconditionFailed', 412]);
    const ok = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, IfMatch: '"781e5e245d69b566979b86e28d23f2c7"' }));
    expect(await ok.Body!.transformToString()).toBe('0123456789');
  });
});
