/**
 * workflow/semaphore.ts and parts/concurrency.ts (`maxConcurrentJobs`): the real run and cleanup definitions in the
 * local ASL interpreter, their DynamoDB tasks answered by dynalite (a real DynamoDB implementation) through the
 * AWS SDK, EC2 faked with a count of live instances.
 */
import aslValidator from 'asl-validator';
import { Duration } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { CONCURRENCY_ERRORS } from '../../src/protocol';
import { CLEANUP_SLOT_STATES, CONDITIONAL_CHECK_FAILED, SLOT_COUNT_ATTRIBUTE, SLOT_ITEM_KEY, SLOT_STATES, FIRST_SWEEP } from '../../src/workflow/semaphore';
import { CLEANUP_STATES, STATES } from '../../src/workflow/states';
import { awsFixture } from '../support/aws-fixtures';
import { LocalDynamo } from '../support/dynamo-local';
import { awsError, runLocally } from '../support/local-sfn';
import { ARN_PREFIX, Harness, loadRun } from '../support/slot-load';
import { cleanupDefinitionOf, expectRejected, runDefinitionOf, synth, Synthesized } from '../support/template';

const KEY = { pk: { S: SLOT_ITEM_KEY } };
/**
 * How long every Wait state waits in the load test. 190 queued runs each try again after it: shorter waits only burn
 * the 2 cores on retries (each try is a DynamoDB call and a few states in the interpreter).
 */
const LOAD_WAIT_MS = 500;

/** The table the definition's semaphore tasks name. */
function tableOf(definition: any): string {
  return definition.States[SLOT_STATES.ACQUIRE].Parameters.TableName;
}

/** The slots item: the count, and the ARNs of the holders. */
async function slotsOf(dynamo: LocalDynamo, table: string): Promise<{ held: number; holders: string[] }> {
  const item = (await dynamo.getItem(table, KEY)) ?? {};
  const holders = Object.entries<any>(item).filter(([, v]) => v.M?.arn).map(([k]) => k);
  return { held: Number(item[SLOT_COUNT_ATTRIBUTE]?.N ?? 0), holders };
}

/** Puts the slots item as if `holders` held slots. */
async function holdSlots(dynamo: LocalDynamo, table: string, holders: string[]): Promise<void> {
  await dynamo.table(table);
  const item: Record<string, any> = { ...KEY, [SLOT_COUNT_ATTRIBUTE]: { N: String(holders.length) } };
  for (const arn of holders) item[arn] = { M: { arn: { S: arn }, since: { S: '2026-01-01T00:00:00.000Z' }, leaseSeconds: { N: '9000' } } };
  await dynamo.putItem(table, item);
}

describe('maxConcurrentJobs: the job-slot semaphore against a real DynamoDB implementation', () => {
  const dynamo = new LocalDynamo();
  beforeAll(() => dynamo.start());
  afterAll(() => dynamo.stop());

  test('a failed condition is DynamoDB.ConditionalCheckFailedException, as Step Functions names it, from dynalite as from DynamoDB', async () => {
    expect(CONDITIONAL_CHECK_FAILED).toBe(awsFixture('ddb-conditional-check-failed-sfn').shape.Error);
    const params = {
      TableName: 'naming-check',
      Key: KEY,
      UpdateExpression: 'SET #n = :one',
      ConditionExpression: 'attribute_exists(#n)',
      ExpressionAttributeNames: { '#n': 'n' },
      ExpressionAttributeValues: { ':one': { N: '1' } },
    };
    await expect(dynamo.call('updateItem', params)).rejects.toMatchObject({ name: CONDITIONAL_CHECK_FAILED, message: 'The conditional request failed' });
  });

  describe('200 executions against a limit of 10', () => {
    // A long job timeout: the waits are shortened to a few milliseconds here, but each still counts its whole cap
    // against the time a run may wait, and 190 runs queue for up to 20 rounds of jobs.
    const s = synth({ maxConcurrentJobs: 10, jobTimeout: Duration.days(1) });
    const definition = runDefinitionOf(s);
    const table = tableOf(definition);

    test('never more than 10 instances alive; every run succeeds with its own instance; every slot is given back', async () => {
      const load = await loadRun(dynamo, definition, { executions: 200, waitMs: LOAD_WAIT_MS });
      expect(load.failures).toEqual([]);
      expect(load.launches).toBe(200);
      expect(load.maxAlive).toBeLessThanOrEqual(10);
      // The limit was the bound, not a lack of concurrency.
      expect(load.maxAlive).toBeGreaterThan(1);
      expect(load.aliveAtEnd).toBe(0);
      expect(load.crossed).toBe(0);
      for (const r of load.results) {
        expect(r.path.filter((p) => p === SLOT_STATES.RELEASE_SUCCESS)).toHaveLength(1);
        // The slot is taken before the launch and given back after the terminate.
        expect(r.path.lastIndexOf(SLOT_STATES.ACQUIRE)).toBeLessThan(r.path.indexOf(STATES.LAUNCH));
        expect(r.path.indexOf(SLOT_STATES.RELEASE_SUCCESS)).toBeGreaterThan(r.path.indexOf(STATES.TERMINATE));
      }
      // Some runs had to wait: the limit was reached.
      expect(load.waits).toBeGreaterThan(0);
      expect(await slotsOf(dynamo, table)).toEqual({ held: 0, holders: [] });
    }, 120_000);
  });

  describe('with a limit of 2', () => {
    const s = synth({ maxConcurrentJobs: 2, jobTimeout: Duration.minutes(10) });
    const definition = runDefinitionOf(s);
    const cleanup = cleanupDefinitionOf(s);
    const table = tableOf(definition);
    beforeEach(async () => {
      await dynamo.table(table);
      await dynamo.deleteItem(table, KEY);
    });

    test('a failed job gives its slot back, after its instance is terminated', async () => {
      const h = new Harness(dynamo, definition);
      const r = await h.run('fails', h.handlers(() => {
        throw awsError('Job.NonZeroExit', '{"exitCode":3}');
      }));
      expect(r.status).toBe('FAILED');
      expect(r.error).toBe('Job.NonZeroExit');
      expect(r.path.indexOf(SLOT_STATES.RELEASE_FAILURE)).toBeGreaterThan(r.path.indexOf(STATES.TERMINATE));
      expect(r.path).toContain(STATES.NOTIFY_FAILURE);
      expect(await slotsOf(dynamo, table)).toEqual({ held: 0, holders: [] });
    });

    test('a script that is not there gives its slot back (taken after validation, before the script check)', async () => {
      const h = new Harness(dynamo, definition);
      const r = await h.run('no-script', h.handlers(undefined, { [STATES.CHECK_SCRIPT]: () => { throw awsError('S3.NoSuchKey'); } }));
      expect(r.error).toBe('Input.ScriptNotFound');
      expect(r.path).toContain(SLOT_STATES.RELEASE_FAILURE);
      expect(h.launches).toBe(0);
      expect(await slotsOf(dynamo, table)).toEqual({ held: 0, holders: [] });
    });

    test('bad input takes no slot at all', async () => {
      const h = new Harness(dynamo, definition);
      const before = dynamo.calls.updateItem ?? 0;
      const r = await h.run('bad-input', h.handlers(), { args: ['no script'] });
      expect(r.error).toBe('Input.MissingScript');
      expect(r.path).not.toContain(SLOT_STATES.QUEUE);
      expect(r.path).not.toContain(SLOT_STATES.RELEASE_FAILURE);
      expect(dynamo.calls.updateItem ?? 0).toBe(before);
      expect(await slotsOf(dynamo, table)).toEqual({ held: 0, holders: [] });
    });

    test('while it holds a slot the item names it with its lease; the slot is its across attempts of one run', async () => {
      const h = new Harness(dynamo, definition);
      let during: any;
      const r = await h.run('holding', h.handlers(async () => {
        during = await dynamo.getItem(table, KEY);
        return { exitCode: 0 };
      }));
      expect(r.status).toBe('SUCCEEDED');
      expect(during[SLOT_COUNT_ATTRIBUTE]).toEqual({ N: '1' });
      const arn = ARN_PREFIX + 'holding';
      expect(during[arn].M.arn).toEqual({ S: arn });
      expect(typeof during[arn].M.since.S).toBe('string');
      // The lease is the run's execution timeout: 2 × 10 min (capacity + job) + 30 min + 10 min of waiting for a slot.
      expect(during[arn].M.leaseSeconds).toEqual({ N: String(2 * 600 + 1800 + 600) });
    });

    test('an acquire retried after its first try went through (a lost answer) finds its own slot and goes on', async () => {
      const h = new Harness(dynamo, definition);
      let first = true;
      const acquire = async (input: any) => {
        const answer = await dynamo.call('updateItem', input);
        if (first) {
          first = false;
          throw awsError('DynamoDB.InternalServerErrorException', 'the answer was lost');
        }
        return answer;
      };
      const r = await h.run('retried', h.handlers(undefined, { [SLOT_STATES.ACQUIRE]: acquire }));
      expect(r.status).toBe('SUCCEEDED');
      expect(r.path).toContain(SLOT_STATES.ALREADY_HELD);
      expect(h.launches).toBe(1);
      expect(await slotsOf(dynamo, table)).toEqual({ held: 0, holders: [] });
    });

    test('expired leases: slots held by runs that have ended are reclaimed by a waiting run; a running holder keeps its own', async () => {
      const dead = ARN_PREFIX + 'dead-1';
      const gone = ARN_PREFIX + 'gone-1';
      await holdSlots(dynamo, table, [dead, gone]);
      const h = new Harness(dynamo, definition);
      h.ended.set(dead, 'ABORTED');
      h.ended.set(gone, awsError('Sfn.ExecutionDoesNotExistException', 'Execution Does Not Exist'));
      const r = await h.run('waiter', h.handlers());
      expect(r.status).toBe('SUCCEEDED');
      expect(r.path.filter((p) => p === SLOT_STATES.WAIT).length).toBeGreaterThanOrEqual(FIRST_SWEEP);
      expect(r.path).toContain(SLOT_STATES.SWEEP);
      expect(r.path.filter((p) => p === SLOT_STATES.RECLAIM)).toHaveLength(2);
      expect(await slotsOf(dynamo, table)).toEqual({ held: 0, holders: [] });

      // A holder whose execution still runs is never reclaimed.
      const alive = ARN_PREFIX + 'alive-1';
      await holdSlots(dynamo, table, [alive, dead]);
      const h2 = new Harness(dynamo, definition);
      h2.running.add(alive);
      h2.ended.set(dead, 'FAILED');
      const r2 = await h2.run('waiter-2', h2.handlers());
      expect(r2.status).toBe('SUCCEEDED');
      expect(await slotsOf(dynamo, table)).toEqual({ held: 1, holders: [alive] });
    });

    test('all slots held by running runs for longer than the job timeout: Concurrency.NoSlot, nothing launched, nothing released', async () => {
      const a = ARN_PREFIX + 'busy-1';
      const b = ARN_PREFIX + 'busy-2';
      await holdSlots(dynamo, table, [a, b]);
      const h = new Harness(dynamo, definition);
      h.running.add(a);
      h.running.add(b);
      const r = await h.run('starved', h.handlers());
      expect(r.status).toBe('FAILED');
      expect(r.error).toBe(CONCURRENCY_ERRORS.NO_SLOT);
      expect(r.cause).toMatch(/^All 2 job slots .*\(600 s\)/);
      expect(h.launches).toBe(0);
      expect(r.path).not.toContain(SLOT_STATES.RELEASE_FAILURE);
      expect(r.path).toContain(STATES.NOTIFY_FAILURE);
      // The caps of its waits: 2 + 4 + 8 + 16 + 32 + 60 × 8 = 542 s; a 14th wait would bring them to 602 s > 600 s.
      expect(r.path.filter((p) => p === SLOT_STATES.WAIT)).toHaveLength(13);
      expect(await slotsOf(dynamo, table)).toEqual({ held: 2, holders: [a, b] });
    });

    test('StopExecution: the cleanup gives back the slot the aborted run held, after terminating its instance; a second release changes nothing', async () => {
      const stopped = ARN_PREFIX + 'stopped';
      const other = ARN_PREFIX + 'other';
      await holdSlots(dynamo, table, [stopped, other]);
      const event = (status: string) => ({
        'detail-type': 'Step Functions Execution Status Change',
        'source': 'aws.states',
        'detail': { executionArn: stopped, name: 'stopped', status, stateMachineArn: 'arn:aws:states:eu-west-1:111111111111:stateMachine:Pipeline' },
      });
      const handlers = {
        ...dynamo.handlers(cleanup),
        [CLEANUP_STATES.FIND]: () => ({ Reservations: [{ Instances: [{ InstanceId: 'i-0aaa' }] }] }),
        [CLEANUP_STATES.TERMINATE]: () => ({}),
        [CLEANUP_STATES.NOTIFY]: () => ({ MessageId: 'm' }),
      };
      const r = await runLocally(cleanup, event('ABORTED'), handlers);
      expect(r.status).toBe('SUCCEEDED');
      expect(r.path.indexOf(CLEANUP_SLOT_STATES.RELEASE)).toBeGreaterThan(r.path.indexOf(CLEANUP_STATES.TERMINATE));
      expect(await slotsOf(dynamo, table)).toEqual({ held: 1, holders: [other] });

      // The event delivered twice (EventBridge delivers at least once), or a TIMED_OUT run released already.
      const again = await runLocally(cleanup, event('TIMED_OUT'), handlers);
      expect(again.status).toBe('SUCCEEDED');
      expect(again.path).toContain(CLEANUP_SLOT_STATES.RELEASE);
      expect(await slotsOf(dynamo, table)).toEqual({ held: 1, holders: [other] });
    });

    test('a run that ends normally leaves nothing for the cleanup: its FAILED cleanup releases nothing', async () => {
      const h = new Harness(dynamo, definition);
      await h.run('ended', h.handlers(() => {
        throw awsError('Job.NonZeroExit', '{}');
      }));
      const other = ARN_PREFIX + 'other';
      await holdSlots(dynamo, table, [other]);
      const r = await runLocally(cleanup, { detail: { executionArn: ARN_PREFIX + 'ended', name: 'ended', status: 'FAILED' } }, {
        ...dynamo.handlers(cleanup),
        [CLEANUP_STATES.FIND]: () => ({ Reservations: [] }),
      });
      expect(r.status).toBe('SUCCEEDED');
      expect(await slotsOf(dynamo, table)).toEqual({ held: 1, holders: [other] });
    });
  });
});

describe('maxConcurrentJobs: resources and IAM', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth({ maxConcurrentJobs: 4 });
  });

  test('one on-demand table, deleted with the stack, encrypted, keyed by a string', () => {
    s.template.resourceCountIs('AWS::DynamoDB::Table', 1);
    s.template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Delete',
      Properties: {
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      },
    });
    expect(s.pipeline.jobSlotsTable).toBeDefined();
  });

  test('without it: no table, no slot states', () => {
    const d = synth();
    d.template.resourceCountIs('AWS::DynamoDB::Table', 0);
    expect(d.pipeline.jobSlotsTable).toBeUndefined();
    const states = Object.keys(runDefinitionOf(d).States);
    for (const name of Object.values(SLOT_STATES)) expect(states).not.toContain(name);
    expect(Object.keys(cleanupDefinitionOf(d).States)).not.toContain(CLEANUP_SLOT_STATES.RELEASE);
  });

  const oneItem = { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [SLOT_ITEM_KEY] } };

  test('the run role may read and update only the slots item; the cleanup role only update it', () => {
    const tableId = s.stack.resolve((s.pipeline.jobSlotsTable!.node.defaultChild as any).logicalId);
    const roleOf = (m: any) => s.stack.resolve((m.role.node.defaultChild as any).logicalId);
    const statementsOf = (role: string) =>
      Object.values<any>(s.template.findResources('AWS::IAM::Policy'))
        .filter((p) => p.Properties.Roles.some((r: any) => r.Ref === role))
        .flatMap((p) => p.Properties.PolicyDocument.Statement)
        .filter((st: any) => JSON.stringify(st.Resource).includes(tableId));
    const run = statementsOf(roleOf(s.pipeline.stateMachine));
    expect(run).toEqual([
      { Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], Resource: { 'Fn::GetAtt': [tableId, 'Arn'] }, Condition: oneItem },
    ]);
    const clean = statementsOf(roleOf(s.pipeline.cleanupStateMachine));
    expect(clean).toEqual([{ Effect: 'Allow', Action: 'dynamodb:UpdateItem', Resource: { 'Fn::GetAtt': [tableId, 'Arn'] }, Condition: oneItem }]);
  });

  test('the run role may describe only its own state machine\'s executions', () => {
    s.template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [
          Match.objectLike({
            Action: 'states:DescribeExecution',
            Resource: Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp(':execution:$')])] }),
          }),
        ],
      },
    });
  });

  test('the run and cleanup definitions with the semaphore are valid ASL', () => {
    for (const def of [runDefinitionOf(s), cleanupDefinitionOf(s)]) {
      const { isValid, errorsText } = aslValidator(def);
      expect(errorsText('\n')).toBe('');
      expect(isValid).toBe(true);
    }
  });

  test('the execution timeout grows by the job timeout for the wait for a slot', () => {
    const d = synth();
    const timeoutOf = (x: Synthesized) => runDefinitionOf(x).TimeoutSeconds;
    expect(timeoutOf(s) - timeoutOf(d)).toBe(3600);
  });

  test.each([0, -1, 1.5, 1001])('maxConcurrentJobs %p is refused', (n) => {
    expectRejected({ maxConcurrentJobs: n }, /'maxConcurrentJobs' must be a whole number from 1 to 1000/);
  });
});
