/**
 * The fake Step Functions endpoint itself (test/support/fake-sfn.ts), through the real SDK client:
 * other suites rely on it answering like AWS.
 */
import * as http from 'http';
import { GetActivityTaskCommand, SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { FakeStepFunctions } from '../support/fake-sfn';

let sfn: FakeStepFunctions;
let client: SFNClient;

beforeAll(async () => {
  sfn = new FakeStepFunctions();
  await sfn.start();
  client = new SFNClient({ region: 'us-west-2', endpoint: sfn.url, credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
});

afterAll(async () => {
  client.destroy();
  await sfn.dispose();
});

const errorName = (p: Promise<unknown>) => p.then(() => 'no error', (e: { name: string }) => e.name);

test('token lifecycle: heartbeat, one final, then TaskTimedOut like AWS; unknown tokens are InvalidToken', async () => {
  const token = sfn.addToken();
  await client.send(new SendTaskHeartbeatCommand({ taskToken: token }));
  const final = sfn.onFinal(token);
  await client.send(new SendTaskSuccessCommand({ taskToken: token, output: '{"a":1}' }));
  expect(await final).toMatchObject({ token, action: 'SendTaskSuccess', state: 'succeeded', output: { a: 1 } });
  expect(sfn.tokenState(token)).toBe('succeeded');
  expect(await errorName(client.send(new SendTaskFailureCommand({ taskToken: token, error: 'E' })))).toBe('TaskTimedOut');
  expect(await errorName(client.send(new SendTaskHeartbeatCommand({ taskToken: token })))).toBe('TaskTimedOut');
  expect(sfn.finalsFor(token)).toHaveLength(1);
  expect(await errorName(client.send(new SendTaskHeartbeatCommand({ taskToken: 'nope' })))).toBe('InvalidToken');
  expect(sfn.callsFor(undefined, token).map((c) => [c.action, c.status, c.region])).toEqual([
    ['SendTaskHeartbeat', 200, 'us-west-2'],
    ['SendTaskSuccess', 200, 'us-west-2'],
    ['SendTaskFailure', 400, 'us-west-2'],
    ['SendTaskHeartbeat', 400, 'us-west-2'],
  ]);
});

test('heartbeatSeconds: the token times out without heartbeats, and heartbeats keep it open', async () => {
  // The busy token is heartbeated every 50 ms against a 0.5 s timeout (a tenfold margin for a loaded machine), for
  // longer than twice its timeout, and until the idle one has timed out.
  const idle = sfn.addToken(undefined, { heartbeatSeconds: 0.2 });
  const busy = sfn.addToken(undefined, { heartbeatSeconds: 0.5 });
  const start = Date.now();
  let sent = 0;
  while (Date.now() - start < 1_200 || sfn.tokenState(idle) !== 'timed-out') {
    await new Promise((r) => setTimeout(r, 50));
    await client.send(new SendTaskHeartbeatCommand({ taskToken: busy }));
    sent++;
  }
  expect(sfn.tokenState(idle)).toBe('timed-out');
  expect(sfn.tokenState(busy)).toBe('open');
  expect(sfn.heartbeatCount(busy)).toBe(sent);
});

test('validates the SendTask* limits', async () => {
  const token = sfn.addToken();
  expect(await errorName(client.send(new SendTaskSuccessCommand({ taskToken: token, output: '{bad' })))).toBe('InvalidOutput');
  expect(await errorName(client.send(new SendTaskFailureCommand({ taskToken: token, error: 'e'.repeat(257) })))).toBe('ValidationException');
  expect(await errorName(client.send(new SendTaskFailureCommand({ taskToken: token, cause: 'c'.repeat(32_769) })))).toBe('ValidationException');
  expect(sfn.tokenState(token)).toBe('open');
});

test('fault injection matches action and token, counts down, and a lost-type fault closes the token', async () => {
  const a = sfn.addToken();
  const b = sfn.addToken();
  sfn.injectFault({ action: 'SendTaskHeartbeat', token: a, times: 2, fault: 'ThrottlingException' });
  expect(await errorName(client.send(new SendTaskHeartbeatCommand({ taskToken: b })))).toBe('no error');
  expect(await errorName(client.send(new SendTaskHeartbeatCommand({ taskToken: a })))).toBe('ThrottlingException');
  expect(await errorName(client.send(new SendTaskHeartbeatCommand({ taskToken: a })))).toBe('ThrottlingException');
  expect(await errorName(client.send(new SendTaskHeartbeatCommand({ taskToken: a })))).toBe('no error');

  sfn.failNext('SendTaskHeartbeat', 1, 500);
  const e = await client.send(new SendTaskHeartbeatCommand({ taskToken: a })).catch((x) => x);
  expect(e.$metadata.httpStatusCode).toBe(500);

  sfn.injectFault({ token: b, fault: 'TaskTimedOut' });
  expect(await errorName(client.send(new SendTaskHeartbeatCommand({ taskToken: b })))).toBe('TaskTimedOut');
  expect(sfn.tokenState(b)).toBe('timed-out');
});

test('onFinal with a callback; 50 concurrent executions each get their own single result', async () => {
  const tokens = Array.from({ length: 50 }, () => sfn.addToken());
  const seen: string[] = [];
  tokens.forEach((t) => sfn.onFinal(t, (f) => seen.push(f.token)));
  await Promise.all(tokens.map((t, i) => (i % 2
    ? client.send(new SendTaskSuccessCommand({ taskToken: t, output: String(i) }))
    : client.send(new SendTaskFailureCommand({ taskToken: t, error: `E${i}` })))));
  expect(new Set(seen)).toEqual(new Set(tokens));
  tokens.forEach((t, i) => {
    expect(sfn.finalsFor(t)).toHaveLength(1);
    expect(sfn.tokenState(t)).toBe(i % 2 ? 'succeeded' : 'failed');
  });
  // A callback for an already-closed token is called at once.
  let late: string | undefined;
  sfn.onFinal(tokens[0], (f) => (late = f.error));
  expect(late).toBe('E0');
});

test('unsigned requests are refused; waitForCall sees them', async () => {
  const waiting = sfn.waitForCall((c) => c.action === 'SendTaskHeartbeat' && !c.signed, 5_000);
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request(sfn.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AWSStepFunctions.SendTaskHeartbeat' },
    }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end('{"taskToken":"x"}');
  });
  expect(status).toBe(400);
  expect((await waiting).errorType).toBe('MissingAuthenticationTokenException');
});

describe('activities', () => {
  const arn = 'arn:aws:states:us-west-2:1:activity:jobs';
  const poll = (workerName: string, activityArn = arn) => client.send(new GetActivityTaskCommand({ activityArn, workerName }));

  test('a poll with nothing queued is held for activityPollHoldMs, then answered empty', async () => {
    sfn.activityPollHoldMs = 250;
    const t0 = Date.now();
    const out = await poll('w-1');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(240);
    expect(out.taskToken).toBeUndefined();
    expect(sfn.callsFor('GetActivityTask').at(-1)).toMatchObject({ status: 200, body: { activityArn: arn, workerName: 'w-1' } });
    expect(await errorName(client.send(new GetActivityTaskCommand({ activityArn: '' })))).toBe('ValidationException');
  });

  test('tasks go first-in first-out to whichever poll asks first, across pollers and only for their activity', async () => {
    sfn.activityPollHoldMs = 5_000;
    const queued = sfn.addActivityTask(arn, { n: 0 });
    expect(sfn.queuedActivityTasks(arn)).toBe(1);
    // Queued before anyone polls: the first poll gets it at once.
    expect(await poll('w-0')).toEqual(expect.objectContaining({ taskToken: queued, input: '{"n":0}' }));

    const p1 = poll('w-1');
    await new Promise((r) => setTimeout(r, 100));
    const p2 = poll('w-2');
    const other = poll('w-x', `${arn}-other`);
    await new Promise((r) => setTimeout(r, 100));
    expect(sfn.waitingPollCount()).toBe(3);
    expect(sfn.waitingPollCount('w-2')).toBe(1);
    const t1 = sfn.addActivityTask(arn, 'first', 'tok-first');
    const t2 = sfn.addActivityTask(arn, 'second');
    expect((await p1).taskToken).toBe(t1);
    expect((await p2)).toEqual(expect.objectContaining({ taskToken: t2, input: 'second' }));
    expect(sfn.draws.slice(-2).map((d) => [d.workerName, d.token])).toEqual([['w-1', 'tok-first'], ['w-2', t2]]);
    sfn.activityPollHoldMs = 100;
    const t3 = sfn.addActivityTask(`${arn}-other`, 'x');
    expect((await other).taskToken).toBe(t3);
    expect(sfn.abandonedPolls).toBe(0);
  });

  test('a drawn task\'s heartbeat timer starts when it is drawn; a poll dropped by its client is counted', async () => {
    sfn.activityPollHoldMs = 5_000;
    const token = sfn.addActivityTask(arn, '{}', undefined, { heartbeatSeconds: 0.2 });
    await new Promise((r) => setTimeout(r, 300));
    expect(sfn.tokenState(token)).toBe('open');
    expect((await poll('w-1')).taskToken).toBe(token);
    await new Promise((r) => setTimeout(r, 300));
    expect(sfn.tokenState(token)).toBe('timed-out');

    const abort = new AbortController();
    const dropped = client.send(new GetActivityTaskCommand({ activityArn: arn, workerName: 'w-gone' }), { abortSignal: abort.signal }).catch((e) => e.name);
    await new Promise((r) => setTimeout(r, 100));
    abort.abort();
    expect(await dropped).toBe('AbortError');
    await new Promise((r) => setTimeout(r, 100));
    expect(sfn.abandonedPolls).toBe(1);
    expect(sfn.waitingPollCount()).toBe(0);
  });
});
