/**
 * Activity mode (src/runtime/activity-claim.ts, src/runtime/commands/claim-activity.ts): the bundled runtime's
 * `claim-activity` against the fake Step Functions (activity long polls) and the fake S3 (hand-overs), as real child
 * processes, and `claimActivityTask` in-process.
 */
import * as fs from 'fs';
import * as path from 'path';
// Until @aws-sdk/client-s3 is listed in devDependencies (the runtime bundles it).
import { S3Client } from '@aws-sdk/client-s3';
import { GetActivityTaskCommand, SFNClient } from '@aws-sdk/client-sfn';
import { cleanupTmp, cliEnv, requireBundle, runCli, startCli, tmpDir, waitFor } from './harness';
import type { CliResult } from './harness';
import { CLI_EXIT, HANDOFF_PREFIX, JOB_ERRORS, OWNER_TAG } from '../../src/protocol';
import type { ActivityTaskInput, TaskDocument } from '../../src/protocol';
import { ActivityClaimError, claimActivityTask, readTaskDocument } from '../../src/runtime';
import { FakeS3 } from '../support/fake-s3';
import { FakeStepFunctions } from '../support/fake-sfn';

const BUCKET = 'job-bucket';
const ROLE_ID = 'AROAEXAMPLEROLEID';
let activityCounter = 0;

let sfn: FakeStepFunctions;
let s3: FakeS3;
let arn: string;

beforeAll(() => requireBundle());

beforeEach(async () => {
  sfn = new FakeStepFunctions({ activityPollHoldMs: 300 });
  s3 = new FakeS3();
  await Promise.all([sfn.start(), s3.start()]);
  arn = `arn:aws:states:eu-west-3:123456789012:activity:ssp-jobs-${++activityCounter}`;
});

afterEach(async () => {
  await Promise.all([sfn.dispose(), s3.stop()]);
});

afterAll(() => cleanupTmp());

function taskInput(instanceId: string, n: number): ActivityTaskInput {
  return {
    instanceId,
    executionArn: `arn:aws:states:eu-west-3:123456789012:execution:Pipeline:exec-${n}`,
    executionName: `exec-${n}`,
    script: 'jobs/run.sh',
    args: [`arg-${n}`],
    heartbeatSeconds: 30,
    env: { RUN: String(n) },
    attempt: 1,
  };
}

/** The task document an instance should end up with for a task. */
function expectedDocument(token: string, input: ActivityTaskInput): TaskDocument {
  const { instanceId: _owner, ...rest } = input;
  return { taskToken: token, ...rest };
}

function env() {
  return cliEnv(sfn.url, { AWS_ENDPOINT_URL_S3: s3.url });
}

function claimArgs(instanceId: string, out: string, extra: string[] = []): string[] {
  return [
    'claim-activity', '--activity-arn', arn, '--instance-id', instanceId, '--bucket', BUCKET,
    '--owner-tag-value', `${ROLE_ID}:${instanceId}`, '--out', out, '--handoff-interval-seconds', '0.2', ...extra,
  ];
}

const handoffKey = (instanceId: string) => `${HANDOFF_PREFIX}${instanceId}.json`;

/** A deterministic shuffle (Park-Miller), so a failure can be replayed. */
function shuffled<T>(items: T[], seed: number): T[] {
  let state = seed % 2_147_483_647;
  const random = () => {
    state = (state * 16_807) % 2_147_483_647;
    return (state - 1) / 2_147_483_646;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

test('one instance, its own task: writes the task document (atomically, owner-only) and exits 0', async () => {
  const dir = tmpDir();
  const out = path.join(dir, 'task.json');
  const input = taskInput('i-own', 1);
  const token = sfn.addActivityTask(arn, input);

  const res = await runCli(claimArgs('i-own', out), env());

  expect(res.code).toBe(CLI_EXIT.OK);
  expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toEqual(expectedDocument(token, input));
  // The `run` step reads it like a default-mode task document.
  expect(readTaskDocument(out)).toEqual(expectedDocument(token, input));
  expect(fs.statSync(out).mode.toString(8).slice(-3)).toBe('600');
  expect(fs.readdirSync(dir)).toEqual(['task.json']);
  expect(sfn.draws).toEqual([expect.objectContaining({ activityArn: arn, token, workerName: 'i-own' })]);
  // Polls carry the activity and the worker name, signed in the env region.
  expect(sfn.callsFor('GetActivityTask').every((c) => c.body.activityArn === arn && c.body.workerName === 'i-own' && c.region === 'eu-west-3')).toBe(true);
  // Nothing handed over, nothing answered: the `run` step claims the token.
  expect(s3.requestsFor('PUT')).toHaveLength(0);
  expect(sfn.callsFor(undefined, token)).toHaveLength(0);
  expect(sfn.abandonedPolls).toBe(0);
  expect(res.stderr).toContain('claim-activity: this instance\'s task (execution exec-1, drawn)');
});

test('crossed draws: 20 instances, 20 tasks in shuffled order; each ends with its own token, every foreign draw is handed over', async () => {
  const ids = Array.from({ length: 20 }, (_, i) => `i-${i}`);
  const dir = tmpDir();
  const tokenOf = new Map<string, string>();
  const inputOf = new Map<string, ActivityTaskInput>();
  const queue = (id: string, n: number) => {
    const input = taskInput(id, n);
    inputOf.set(id, input);
    tokenOf.set(id, sfn.addActivityTask(arn, input, undefined, { heartbeatSeconds: 30 }));
  };
  const order = shuffled(ids, 20_240_611);
  // Half the tasks are queued before anyone polls, the other half go to polls already waiting.
  order.slice(0, 10).forEach((id, n) => queue(id, n));

  const procs = ids.map((id) => startCli(claimArgs(id, path.join(dir, `${id}.json`)), env(), 30_000));
  await waitFor(() => sfn.waitingPollCount() >= 3, 'polls waiting on an empty queue', 20_000);
  order.slice(10).forEach((id, n) => queue(id, 10 + n));
  const results = await Promise.all(procs.map((p) => p.done));

  // Every claimer ends on its own (each has a 30 s budget): how fast is the bench's business, not this test's.
  results.forEach((r: CliResult, i) => expect({ id: ids[i], code: r.code, stderr: r.code === 0 ? '' : r.stderr }).toEqual({ id: ids[i], code: 0, stderr: '' }));

  // Every instance has exactly its own task; no token is in two files.
  const fileTokens = ids.map((id) => {
    const doc = JSON.parse(fs.readFileSync(path.join(dir, `${id}.json`), 'utf8'));
    expect(doc).toEqual(expectedDocument(tokenOf.get(id)!, inputOf.get(id)!));
    return doc.taskToken;
  });
  expect(new Set(fileTokens).size).toBe(20);

  // Every task was drawn exactly once, by some poller, and no poll was dropped.
  expect(sfn.draws).toHaveLength(20);
  expect(new Set(sfn.draws.map((d) => d.token)).size).toBe(20);
  expect(sfn.abandonedPolls).toBe(0);

  const foreign = sfn.draws.filter((d) => JSON.parse(d.input).instanceId !== d.workerName);
  expect(foreign.length).toBeGreaterThan(0);
  const puts = s3.requestsFor('PUT');
  expect(puts).toHaveLength(foreign.length);
  for (const draw of sfn.draws) {
    const owner = JSON.parse(draw.input).instanceId as string;
    const handedOver = puts.filter((p) => p.key === handoffKey(owner));
    if (owner === draw.workerName) {
      // Drawn by its owner: no hand-over, no heartbeat (the `run` step claims it).
      expect(handedOver).toHaveLength(0);
      expect(sfn.heartbeatCount(draw.token)).toBe(0);
      continue;
    }
    // Drawn by someone else: one heartbeat, then one hand-over to the owner, tagged for the owner only.
    expect(sfn.heartbeatCount(draw.token)).toBe(1);
    expect(handedOver).toHaveLength(1);
    expect(handedOver[0]).toMatchObject({ bucket: BUCKET, status: 200, signed: true, ifNoneMatch: '*', tags: { [OWNER_TAG]: `${ROLE_ID}:${owner}` } });
    expect(JSON.parse(handedOver[0].body!)).toEqual(expectedDocument(draw.token, inputOf.get(owner)!));
    const heartbeat = sfn.callsFor('SendTaskHeartbeat', draw.token)[0];
    expect(heartbeat.time).toBeLessThanOrEqual(handedOver[0].time);
    expect(s3.getObject(BUCKET, handoffKey(owner))!.tags).toEqual({ [OWNER_TAG]: `${ROLE_ID}:${owner}` });
  }
  // Nobody answered any task with a final result.
  expect(sfn.finals).toHaveLength(0);
}, 40_000);

test('own task never drawn: gives up after --wait-seconds with exit LOST and no file', async () => {
  const dir = tmpDir();
  const out = path.join(dir, 'task.json');
  // Another instance's task is there, and is handed over; ours never comes.
  const other = sfn.addActivityTask(arn, taskInput('i-other', 1));
  const res = await runCli(claimArgs('i-lonely', out, ['--wait-seconds', '1.2']), env());

  expect(res.code).toBe(CLI_EXIT.LOST);
  expect(fs.existsSync(out)).toBe(false);
  expect(fs.readdirSync(dir)).toEqual([]);
  expect(res.stderr).toMatch(/no activity task for instance i-lonely within 1\.2 s/);
  // It waited the whole time, polling and checking for a hand-over all along (a lower bound only: timers never fire
  // early, and an upper bound would measure the machine's load).
  expect(res.durationMs).toBeGreaterThanOrEqual(1_200);
  expect(sfn.callsFor('GetActivityTask').length).toBeGreaterThanOrEqual(3);
  expect(s3.requestsFor('GET', handoffKey('i-lonely')).length).toBeGreaterThanOrEqual(3);
  expect(s3.getObject(BUCKET, handoffKey('i-other'))).toBeDefined();
  expect(sfn.heartbeatCount(other)).toBe(1);
  expect(sfn.abandonedPolls).toBe(0);
});

describe('found through a hand-over while a poll is in flight', () => {
  async function startWithPollInFlight(instanceId: string, out: string) {
    const proc = startCli(claimArgs(instanceId, out), env(), 30_000);
    await waitFor(() => sfn.waitingPollCount(instanceId) === 1, `a poll of ${instanceId} in flight`);
    const ownToken = sfn.addToken();
    const ownDoc = expectedDocument(ownToken, taskInput(instanceId, 7));
    s3.putObject(BUCKET, handoffKey(instanceId), JSON.stringify(ownDoc), { [OWNER_TAG]: `${ROLE_ID}:${instanceId}` });
    await waitFor(() => fs.existsSync(out), `${out} to be written`);
    return { proc, ownDoc };
  }

  test('the in-flight poll is drained and the task it returns handed over (not lost), with no new poll', async () => {
    sfn.activityPollHoldMs = 4_000;
    const out = path.join(tmpDir(), 'task.json');
    const { proc, ownDoc } = await startWithPollInFlight('i-a', out);

    // The file is there at once, while the poll is still held and the process still runs.
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toEqual(ownDoc);
    expect(sfn.waitingPollCount('i-a')).toBe(1);
    expect(proc.child.exitCode).toBeNull();
    const pollsBefore = sfn.callsFor('GetActivityTask').length;

    // Now a task for another instance turns up: the held poll gets it.
    const foreignInput = taskInput('i-b', 8);
    const foreign = sfn.addActivityTask(arn, foreignInput, undefined, { heartbeatSeconds: 30 });
    const res = await proc.done;

    expect(res.code).toBe(CLI_EXIT.OK);
    expect(sfn.draws).toEqual([expect.objectContaining({ token: foreign, workerName: 'i-a' })]);
    expect(sfn.heartbeatCount(foreign)).toBe(1);
    const put = s3.requestsFor('PUT', handoffKey('i-b'));
    expect(put).toHaveLength(1);
    expect(put[0].tags).toEqual({ [OWNER_TAG]: `${ROLE_ID}:i-b` });
    expect(JSON.parse(put[0].body!)).toEqual(expectedDocument(foreign, foreignInput));
    expect(sfn.callsFor('GetActivityTask')).toHaveLength(pollsBefore);
    expect(sfn.abandonedPolls).toBe(0);
    // Our own file is untouched by the drain.
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toEqual(ownDoc);
    expect(res.stderr).toContain('handed over');
  });

  test('a drained task that cannot be handed over: the file stands, the exit code says REPORT_FAILED', async () => {
    sfn.activityPollHoldMs = 4_000;
    const out = path.join(tmpDir(), 'task.json');
    const { proc, ownDoc } = await startWithPollInFlight('i-d', out);
    s3.injectFault({ method: 'PUT', times: Infinity, fault: 'AccessDenied' });
    sfn.addActivityTask(arn, taskInput('i-e', 9));
    const res = await proc.done;

    expect(res.code).toBe(CLI_EXIT.REPORT_FAILED);
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toEqual(ownDoc);
    expect(res.stderr).toContain(`could not hand the task of instance i-e over (s3://${BUCKET}/${handoffKey('i-e')}): AccessDenied`);
    expect(sfn.abandonedPolls).toBe(0);
  });

  test('an in-flight poll that comes back empty is awaited, not aborted, and then the process exits', async () => {
    sfn.activityPollHoldMs = 1_500;
    const out = path.join(tmpDir(), 'task.json');
    const { proc } = await startWithPollInFlight('i-c', out);
    expect(proc.child.exitCode).toBeNull();
    const res = await proc.done;

    expect(res.code).toBe(CLI_EXIT.OK);
    const polls = sfn.callsFor('GetActivityTask');
    expect(polls).toHaveLength(1);
    expect(polls[0].status).toBe(200);
    expect(res.endedAt).toBeGreaterThanOrEqual(polls[0].answeredAt!);
    expect(sfn.abandonedPolls).toBe(0);
    expect(s3.requestsFor('PUT')).toHaveLength(0);
    expect(res.stderr).toContain('(execution exec-7, handed over)');
  });
});

test('--wait-seconds defaults to the larger of 600 and twice SSP_HEARTBEAT_SECONDS', async () => {
  const dir = tmpDir();
  sfn.addActivityTask(arn, taskInput('i-w', 1));
  sfn.addActivityTask(arn, taskInput('i-w', 2));
  const long = await runCli(claimArgs('i-w', path.join(dir, 'a.json')), { ...env(), SSP_HEARTBEAT_SECONDS: '450' });
  const short = await runCli(claimArgs('i-w', path.join(dir, 'b.json')), { ...env(), SSP_HEARTBEAT_SECONDS: '60' });
  expect([long.code, short.code]).toEqual([CLI_EXIT.OK, CLI_EXIT.OK]);
  expect(long.stderr).toContain('giving up after 900 s');
  expect(short.stderr).toContain('giving up after 600 s');
});

test('library: claimActivityTask with given clients resolves { document, source, drained }; gives up with ActivityClaimError', async () => {
  const credentials = { accessKeyId: 'a', secretAccessKey: 'b' };
  const sfnClient = new SFNClient({ region: 'eu-west-3', endpoint: sfn.url, credentials, maxAttempts: 1 });
  const s3Client = new S3Client({ region: 'eu-west-3', endpoint: s3.url, forcePathStyle: true, credentials, maxAttempts: 1 });
  const logs: string[] = [];
  const base = { activityArn: arn, bucket: BUCKET, sfnClient, s3Client, handoffIntervalMs: 100, log: (m: string) => logs.push(m) };
  try {
    const input = taskInput('i-lib', 1);
    const token = sfn.addActivityTask(arn, input);
    const claimed = await claimActivityTask({ ...base, instanceId: 'i-lib', ownerTagValue: `${ROLE_ID}:i-lib` });
    expect(claimed.document).toEqual(expectedDocument(token, input));
    expect(claimed.source).toBe('poll');
    await expect(claimed.drained).resolves.toBeUndefined();

    const t0 = Date.now();
    const err = await claimActivityTask({ ...base, instanceId: 'i-none', ownerTagValue: `${ROLE_ID}:i-none`, waitMs: 500 }).catch((e) => e);
    expect(err).toBeInstanceOf(ActivityClaimError);
    expect(err).toMatchObject({ exitCode: CLI_EXIT.LOST, message: expect.stringContaining('no activity task for instance i-none within 0.5 s') });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);

    await expect(claimActivityTask({ ...base, instanceId: 'i-x', ownerTagValue: 'no-role-id' })).rejects.toThrow('ownerTagValue must be "<RoleId>:<InstanceId>"');
    // The given clients are not destroyed: they still work.
    sfn.activityPollHoldMs = 50;
    await expect(sfnClient.send(new GetActivityTaskCommand({ activityArn: arn, workerName: 'after' }))).resolves.toBeDefined();
    expect(logs.join('\n')).toContain('drew this instance\'s task (execution exec-1)');
  } finally {
    sfnClient.destroy();
    s3Client.destroy();
  }
});

describe('errors', () => {
  test('retryable failures (throttling, S3 5xx, a reset) are retried and the claim still succeeds', async () => {
    const out = path.join(tmpDir(), 'task.json');
    sfn.injectFault({ action: 'GetActivityTask', times: 2, fault: 'ThrottlingException' });
    sfn.injectFault({ action: 'GetActivityTask', times: 1, fault: 'reset' });
    s3.injectFault({ method: 'GET', times: 1, fault: 'SlowDown' });
    s3.injectFault({ method: 'PUT', times: 1, fault: 500 });
    const foreign = sfn.addActivityTask(arn, taskInput('i-y', 1));
    const own = sfn.addActivityTask(arn, taskInput('i-x', 2));

    const res = await runCli(claimArgs('i-x', out), env());

    expect(res.code).toBe(CLI_EXIT.OK);
    expect(JSON.parse(fs.readFileSync(out, 'utf8')).taskToken).toBe(own);
    expect(sfn.callsFor('GetActivityTask').slice(0, 3).map((c) => c.status)).toEqual([400, 400, 0]);
    expect(s3.requestsFor('PUT', handoffKey('i-y')).map((r) => r.status)).toEqual([500, 200]);
    expect(sfn.heartbeatCount(foreign)).toBe(1);
    expect(res.stderr).toMatch(/GetActivityTask failed \(ThrottlingException/);
  });

  test('GetActivityTask refused (AccessDenied): exit REPORT_FAILED at once, with a clear message', async () => {
    const out = path.join(tmpDir(), 'task.json');
    sfn.injectFault({ action: 'GetActivityTask', times: Infinity, fault: 'AccessDeniedException', message: 'not authorized to perform: states:GetActivityTask' });
    const res = await runCli(claimArgs('i-x', out), env());
    expect(res.code).toBe(CLI_EXIT.REPORT_FAILED);
    expect(res.stderr).toContain(`GetActivityTask on ${arn} failed: AccessDeniedException`);
    expect(res.stderr).toContain('states:GetActivityTask');
    expect(sfn.callsFor('GetActivityTask')).toHaveLength(1);
    expect(fs.existsSync(out)).toBe(false);
  });

  test('a hand-over refused (S3 AccessDenied): exit REPORT_FAILED naming the object', async () => {
    const out = path.join(tmpDir(), 'task.json');
    s3.injectFault({ method: 'PUT', times: Infinity, fault: 'AccessDenied' });
    sfn.addActivityTask(arn, taskInput('i-y', 1));
    const res = await runCli(claimArgs('i-x', out), env());
    expect(res.code).toBe(CLI_EXIT.REPORT_FAILED);
    expect(res.stderr).toContain(`could not hand the task of instance i-y over (s3://${BUCKET}/${handoffKey('i-y')}): AccessDenied`);
    expect(s3.requestsFor('PUT')).toHaveLength(1);
    expect(fs.existsSync(out)).toBe(false);
  });

  test('a hand-over is written once (If-None-Match: *): one already there is kept, and the claim goes on', async () => {
    const out = path.join(tmpDir(), 'task.json');
    s3.putObject(BUCKET, handoffKey('i-y'), '{"taskToken":"first"}', { [OWNER_TAG]: `${ROLE_ID}:i-y` });
    sfn.addActivityTask(arn, taskInput('i-y', 1));
    const own = sfn.addActivityTask(arn, taskInput('i-x', 2));
    const res = await runCli(claimArgs('i-x', out), env());
    expect(res.code).toBe(CLI_EXIT.OK);
    expect(JSON.parse(fs.readFileSync(out, 'utf8')).taskToken).toBe(own);
    expect(s3.requestsFor('PUT', handoffKey('i-y')).map((r) => [r.status, r.ifNoneMatch])).toEqual([[412, '*']]);
    expect(s3.getObject(BUCKET, handoffKey('i-y'))!.body.toString('utf8')).toBe('{"taskToken":"first"}');
    expect(res.stderr).toContain(`a hand-over is already at s3://${BUCKET}/${handoffKey('i-y')}; S3 keeps the first one`);
  });

  test('a task no instance can run is failed with Bootstrap.Failed; a foreign task already gone is not handed over', async () => {
    const out = path.join(tmpDir(), 'task.json');
    const noOwner = sfn.addActivityTask(arn, { executionName: 'exec-x', script: 's', args: [], heartbeatSeconds: 5 });
    const notJson = sfn.addActivityTask(arn, 'not json');
    const gone = sfn.addActivityTask(arn, taskInput('i-gone', 3));
    sfn.injectFault({ action: 'SendTaskHeartbeat', token: gone, fault: 'TaskTimedOut' });
    const own = sfn.addActivityTask(arn, taskInput('i-x', 4));

    const res = await runCli(claimArgs('i-x', out), env());

    expect(res.code).toBe(CLI_EXIT.OK);
    expect(JSON.parse(fs.readFileSync(out, 'utf8')).taskToken).toBe(own);
    for (const [token, why] of [[noOwner, '"instanceId" must be a non-empty string'], [notJson, 'not JSON']]) {
      expect(sfn.finalsFor(token)).toEqual([expect.objectContaining({ action: 'SendTaskFailure', error: JOB_ERRORS.BOOTSTRAP_FAILED })]);
      expect(sfn.finalsFor(token)[0].cause).toContain(why);
    }
    expect(s3.requestsFor('PUT')).toHaveLength(0);
    expect(res.stderr).toMatch(/task of instance i-gone .*already gone/);
  });

  test.each([
    ['missing --out', (a: string[]) => a.filter((_, i) => a[i] !== '--out' && a[i - 1] !== '--out'), /--out is required/],
    ['owner tag of another instance', (a: string[]) => a.map((x) => (x === `${ROLE_ID}:i-x` ? `${ROLE_ID}:i-other` : x)), /--owner-tag-value must be "<RoleId>:i-x"/],
    ['bad --wait-seconds', (a: string[]) => [...a, '--wait-seconds', 'forever'], /--wait-seconds must be a positive number/],
  ])('usage error: %s', async (_name, edit, message) => {
    const res = await runCli(edit(claimArgs('i-x', path.join(tmpDir(), 'task.json'))), env());
    expect(res.code).toBe(CLI_EXIT.USAGE);
    expect(res.stderr).toMatch(message);
    expect(sfn.calls).toHaveLength(0);
  });
});
