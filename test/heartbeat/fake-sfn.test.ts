/**
 * The fake Step Functions endpoint itself (test/support/fake-sfn.ts), through the real SDK client:
 * other suites rely on it answering like AWS.
 */
import * as http from 'http';
import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
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
  const idle = sfn.addToken(undefined, { heartbeatSeconds: 0.2 });
  const busy = sfn.addToken(undefined, { heartbeatSeconds: 0.2 });
  for (let i = 0; i < 4; i++) {
    await new Promise((r) => setTimeout(r, 100));
    await client.send(new SendTaskHeartbeatCommand({ taskToken: busy }));
  }
  expect(sfn.tokenState(idle)).toBe('timed-out');
  expect(sfn.tokenState(busy)).toBe('open');
  expect(sfn.heartbeatCount(busy)).toBe(4);
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
