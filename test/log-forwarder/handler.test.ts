/**
 * The log forwarder's Lambda handler, run in-process with the real AWS SDK clients against local fakes of S3 and
 * CloudWatch Logs (nothing reaches AWS).
 */
import { createHash } from 'crypto';
import { BUCKET, Fakes, LOG_GROUP, RUN_KEY, inputFor, numberedLines, rejection, startFakes } from './support';
import {
  HEAD_BUDGET_BYTES,
  MAX_BATCH_BYTES,
  MAX_BATCH_EVENTS,
  MAX_EVENT_MESSAGE_BYTES,
  TAIL_BUDGET_BYTES,
  cutMarker,
  emptyLogMarker,
  eventSize,
  handler,
  resetClients,
} from '../../src/log-forwarder';
import { LOG_FORWARDER_ERRORS } from '../../src/protocol';

let fakes: Fakes;
const STREAM = inputFor().logStreamName;

beforeAll(async () => {
  fakes = await startFakes();
});

beforeEach(() => {
  fakes.logs.reset();
  fakes.logs.createLogGroup(LOG_GROUP);
  fakes.s3.requests.length = 0;
  fakes.s3.clearFaults();
});

afterAll(async () => {
  resetClients();
  await fakes.stop();
});

/** The messages written to the run's stream. */
const written = () => (fakes.logs.events(LOG_GROUP, STREAM) ?? []).map((e) => e.message);

test('a normal log is forwarded line by line, in order, one millisecond apart, ending when the log was written', async () => {
  const log = 'starting job\n\nstep 1: ok\r\nstep 2: ok\nexit 0\n';
  fakes.s3.putObject(BUCKET, RUN_KEY, log);
  const uploaded = fakes.s3.getObject(BUCKET, RUN_KEY)!.time;

  const result = await handler(inputFor());

  expect(written()).toEqual(['starting job', ' ', 'step 1: ok', 'step 2: ok', 'exit 0']);
  const times = fakes.logs.events(LOG_GROUP, STREAM)!.map((e) => e.timestamp);
  // S3's Last-Modified has whole seconds.
  const end = Math.floor(uploaded / 1000) * 1000;
  expect(times).toEqual([end - 4, end - 3, end - 2, end - 1, end]);
  expect(result).toEqual({
    logGroupName: LOG_GROUP, logStreamName: STREAM, logBytes: Buffer.byteLength(log), events: 5, batches: 1, omittedBytes: 0,
  });
  // One plain GET (no range), one CreateLogStream, one PutLogEvents, all signed.
  expect(fakes.s3.requests.map((r) => [r.method, r.key, r.range, r.status, r.signed])).toEqual([['GET', RUN_KEY, undefined, 200, true]]);
  expect(fakes.logs.requests.map((r) => [r.operation, r.status, r.signed])).toEqual([['CreateLogStream', 200, true], ['PutLogEvents', 200, true]]);
  expect(fakes.logs.requestsFor('CreateLogStream')[0].body).toEqual({ logGroupName: LOG_GROUP, logStreamName: STREAM });
});

test('an existing stream is tolerated and written to (a retried invocation)', async () => {
  fakes.s3.putObject(BUCKET, RUN_KEY, 'hello\n');
  fakes.logs.createLogStream(LOG_GROUP, STREAM);

  const result = await handler(inputFor());

  expect(fakes.logs.requestsFor('CreateLogStream').map((r) => r.error)).toEqual(['ResourceAlreadyExistsException']);
  expect(written()).toEqual(['hello']);
  expect(result.events).toBe(1);
});

test('a key outside pipeline/runs/ is refused before anything is read or written', async () => {
  fakes.s3.putObject(BUCKET, 'scripts/secret.sh', 'echo secret\n');
  const error = await rejection(handler(inputFor({ key: 'scripts/secret.sh' })));
  expect(error).toEqual({
    name: LOG_FORWARDER_ERRORS.INVALID_INPUT,
    message: '\'key\' must be a run log, pipeline/runs/<role ID>:<instance ID>/<execution>/output.log; got "scripts/secret.sh"',
  });
  expect(fakes.s3.requests).toEqual([]);
  expect(fakes.logs.requests).toEqual([]);
});

test("a stream name with ':' (an aws:userid) is refused before anything is read or written", async () => {
  fakes.s3.putObject(BUCKET, RUN_KEY, 'hello\n');
  const error = await rejection(handler(inputFor({ logStreamName: 'nightly/AROAEXAMPLE:i-0123456789abcdef0' })));
  expect(error.name).toBe(LOG_FORWARDER_ERRORS.INVALID_INPUT);
  expect(error.message).toMatch(/^'logStreamName' must not contain ':', '\*' or control characters/);
  expect(fakes.s3.requests).toEqual([]);
  expect(fakes.logs.requests).toEqual([]);
});

test('a large log (5 MiB, 100,000 lines) is cut to its head and tail, marked, and sent in batches within the limits', async () => {
  const log = numberedLines(100_000, 52); // 53 bytes a line with its newline
  const size = Buffer.byteLength(log);
  expect(size).toBeGreaterThan(5 * 1024 * 1024);
  fakes.s3.putObject(BUCKET, RUN_KEY, log);
  const etag = `"${createHash('md5').update(log).digest('hex')}"`;

  const result = await handler(inputFor());

  // Two reads: the start of the object (closed early), then its last 2 MiB, only if it is still the same object.
  expect(fakes.s3.requests.map((r) => [r.range, r.ifMatch, r.status])).toEqual([
    [undefined, undefined, 200],
    [`bytes=${size - TAIL_BUDGET_BYTES}-${size - 1}`, etag, 206],
  ]);

  const messages = written();
  const lines = log.slice(0, -1).split('\n');
  const markerAt = messages.findIndex((m) => m.startsWith('[log-forwarder]'));
  const head = messages.slice(0, markerAt);
  const tail = messages.slice(markerAt + 1);
  // Each line costs 52 + 26 = 78 PutLogEvents bytes: 26,886 whole lines fit in 2 MiB, and the next line gets 44 bytes.
  const whole = Math.floor(HEAD_BUDGET_BYTES / 78);
  expect(head.slice(0, whole)).toEqual(lines.slice(0, whole));
  expect(head).toHaveLength(whole + 1);
  expect(head[whole]).toBe(lines[whole].slice(0, HEAD_BUDGET_BYTES - whole * 78 - 26));
  // The tail is the log's last lines, whole, in order, and the first of them may be the end of a cut line.
  expect(tail.slice(-whole)).toEqual(lines.slice(-whole));
  expect(lines[lines.length - whole - 1].endsWith(tail[0])).toBe(true);
  // The marker says how much is missing, and it is exactly what lies between head and tail.
  const kept = Buffer.byteLength(head.join('\n')) + Buffer.byteLength(tail.join('\n') + '\n');
  expect(result.omittedBytes).toBe(size - kept);
  expect(messages[markerAt]).toBe(cutMarker(result.omittedBytes, size, BUCKET, RUN_KEY));
  expect(messages[markerAt]).toMatch(/^\[log-forwarder\] \d+ of this log's 5\d{6} bytes are left out here; the whole log is s3:\/\/job-bucket\/pipeline\/runs\//);

  // Batches: every one within 10,000 events and 1,048,576 bytes (the fake would have refused it otherwise), in order.
  const puts = fakes.logs.requestsFor('PutLogEvents');
  expect(puts.every((p) => p.status === 200)).toBe(true);
  expect(result.batches).toBe(puts.length);
  expect(puts.length).toBe(Math.ceil(messages.length / MAX_BATCH_EVENTS));
  for (const put of puts) {
    expect(put.body.logEvents.length).toBeLessThanOrEqual(MAX_BATCH_EVENTS);
    expect(put.body.logEvents.reduce((n: number, e: any) => n + eventSize(e), 0)).toBeLessThanOrEqual(MAX_BATCH_BYTES);
  }
  const times = fakes.logs.events(LOG_GROUP, STREAM)!.map((e) => e.timestamp);
  expect(times.every((t, i) => i === 0 || t === times[i - 1] + 1)).toBe(true);
  expect(result.events).toBe(messages.length);
});

test('a log of many short lines is cut by the event budget even when it is read whole', async () => {
  // 200,000 one-character lines: 400,000 bytes, but 200,000 events of 27 bytes (5.4 MB) in PutLogEvents terms.
  const log = Array.from({ length: 200_000 }, (_, i) => String(i % 10)).join('\n') + '\n';
  fakes.s3.putObject(BUCKET, RUN_KEY, log);

  const result = await handler(inputFor());

  expect(fakes.s3.requests.map((r) => r.range)).toEqual([undefined]);
  const kept = Math.floor(HEAD_BUDGET_BYTES / 27); // lines in each end's 2 MiB
  const messages = written();
  expect(messages).toHaveLength(kept + 1 + kept);
  expect(messages[kept]).toBe(cutMarker((200_000 - 2 * kept) * 2, 400_000, BUCKET, RUN_KEY));
  expect(messages.slice(0, 3)).toEqual(['0', '1', '2']);
  expect(messages.slice(-3)).toEqual(['7', '8', '9']);
  expect(result).toMatchObject({
    events: 2 * kept + 1, batches: Math.ceil((2 * kept + 1) / MAX_BATCH_EVENTS), omittedBytes: (200_000 - 2 * kept) * 2,
  });
  // The worst case of the budget: 16 calls.
  expect(result.batches).toBe(16);
});

test('long lines are split into events under the size limit, and batches stay under 1 MiB', async () => {
  const long = 'é'.repeat(300_000); // 600,000 bytes: three events
  const wide = 'w'.repeat(2_000);
  const log = `${long}\n${Array.from({ length: 1_000 }, () => wide).join('\n')}\n`; // about 2.6 MB, read whole
  fakes.s3.putObject(BUCKET, RUN_KEY, log);

  const result = await handler(inputFor());

  const messages = written();
  expect(messages.slice(0, 3).join('')).toBe(long);
  expect(messages.slice(0, 3).map((m) => Buffer.byteLength(m)))
    .toEqual([MAX_EVENT_MESSAGE_BYTES, MAX_EVENT_MESSAGE_BYTES, 600_000 - 2 * MAX_EVENT_MESSAGE_BYTES]);
  // Everything fits the budget of head and tail together: no line is cut in two where the head's budget ends.
  expect(messages).toHaveLength(3 + 1_000);
  expect(messages.slice(3).every((m) => m === wide)).toBe(true);
  expect(result.omittedBytes).toBe(0);
  const puts = fakes.logs.requestsFor('PutLogEvents');
  // The byte limit decides here, not the count: 2.6 MB needs at least three calls.
  expect(puts.length).toBe(3);
  for (const put of puts) expect(put.body.logEvents.reduce((n: number, e: any) => n + eventSize(e), 0)).toBeLessThanOrEqual(MAX_BATCH_BYTES);
});

test('an empty log gives the stream one line that says so', async () => {
  fakes.s3.putObject(BUCKET, RUN_KEY, '');
  const result = await handler(inputFor());
  expect(written()).toEqual([emptyLogMarker(BUCKET, RUN_KEY)]);
  expect(result).toMatchObject({ logBytes: 0, events: 1, omittedBytes: 0 });
});

test('an S3 error fails the invocation clearly, and nothing is written', async () => {
  fakes.s3.putObject(BUCKET, RUN_KEY, 'hello\n');
  fakes.s3.injectFault({ method: 'GET', fault: 'AccessDenied', times: Infinity });

  const error = await rejection(handler(inputFor()));

  expect(error.name).toBe(LOG_FORWARDER_ERRORS.READ_FAILED);
  expect(error.message).toBe(
    `could not read the run log s3://${BUCKET}/${RUN_KEY}: AccessDenied (HTTP 403): injected AccessDenied ` +
      '(S3 answers AccessDenied for a key that does not exist when the caller may not list the bucket, as this function may not: did the instance upload its log?)',
  );
  expect(fakes.logs.requests).toEqual([]);
});

test('a missing log (NoSuchKey where listing is allowed) fails as a read error too', async () => {
  const error = await rejection(handler(inputFor({ key: 'pipeline/runs/never/AROAEXAMPLE:i-1/output.log' })));
  expect(error.name).toBe(LOG_FORWARDER_ERRORS.READ_FAILED);
  expect(error.message).toBe('could not read the run log s3://job-bucket/pipeline/runs/never/AROAEXAMPLE:i-1/output.log: NoSuchKey (HTTP 404): The specified key does not exist.');
  expect(fakes.logs.requests).toEqual([]);
});

test('a CloudWatch Logs error fails the invocation clearly', async () => {
  fakes.s3.putObject(BUCKET, RUN_KEY, 'hello\n');
  fakes.logs.reset(); // no log group

  const error = await rejection(handler(inputFor()));

  expect(error).toEqual({
    name: LOG_FORWARDER_ERRORS.WRITE_FAILED,
    message: `could not create log stream '${STREAM}' in ${LOG_GROUP}: ResourceNotFoundException (HTTP 400): The specified log group does not exist.`,
  });
});

test('a failed batch says how much was written before it', async () => {
  fakes.s3.putObject(BUCKET, RUN_KEY, numberedLines(15_000, 20));
  // The first PutLogEvents succeeds; the second is refused (not retried: the SDK does not retry a client error).
  fakes.logs.injectFault({ operation: 'PutLogEvents', after: 1, fault: 'InvalidParameterException' });

  const error = await rejection(handler(inputFor()));

  expect(error).toEqual({
    name: LOG_FORWARDER_ERRORS.WRITE_FAILED,
    message: `could not write batch 2 of 2 to log stream '${STREAM}' in ${LOG_GROUP} (10000 events were written before it): InvalidParameterException (HTTP 400): injected InvalidParameterException`,
  });
  expect(written()).toHaveLength(10_000);
});

test('events CloudWatch Logs rejects (too old, too new, expired) fail the invocation after the rest is written', async () => {
  fakes.s3.putObject(BUCKET, RUN_KEY, 'one\ntwo\nthree\n');
  fakes.logs.rejectEventsOnce({ tooOldLogEventEndIndex: 1 });

  const error = await rejection(handler(inputFor()));

  expect(error).toEqual({
    name: LOG_FORWARDER_ERRORS.EVENTS_REJECTED,
    message: `CloudWatch Logs rejected some events of log stream '${STREAM}' in ${LOG_GROUP} as too old, too new or expired ` +
      '(the others were written): batch 1: {"tooOldLogEventEndIndex":1}',
  });
  expect(written()).toEqual(['two', 'three']);
});
