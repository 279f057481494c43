import * as fs from 'fs';
import * as path from 'path';
import { STATES } from '../../src/workflow/states';
import { cleanupTmp, cliEnv, requireBundle, startCli, tmpDir } from '../runtime/harness';
import { FakeStepFunctions } from '../support/fake-sfn';
import { evaluate, instanceRolePolicies, InstanceRolePolicies } from '../support/iam';
import { awsError, runLocally } from '../support/local-sfn';
import { definitionOf, synth } from '../support/template';

const EXECUTIONS = Number(process.env.SSP_TEST_EXECUTIONS ?? 50);

/**
 * The job bucket, with reads authorized by the instance role's synthesized policy and the bucket policy,
 * decided by the IAM simulator: a read succeeds only if they allow it for that caller's aws:userid and the
 * object's owner tag.
 */
class FakeJobBucket {
  private readonly objects = new Map<string, { body: string; tags: Record<string, string> }>();
  public deniedReads = 0;
  public crossReads = 0;

  constructor(private readonly role: InstanceRolePolicies) {}

  put(key: string, body: unknown, tagging: string): void {
    const tags = Object.fromEntries(tagging.split('&').map((kv) => kv.split('=').map(decodeURIComponent) as [string, string]));
    this.objects.set(key, { body: JSON.stringify(body), tags });
  }

  /** GetObject as the role session of `instanceId`; undefined while the object does not exist yet. */
  async getAs(instanceId: string, key: string): Promise<string | undefined> {
    const object = this.objects.get(key);
    const { principal, userid, context } = this.role.session(instanceId);
    const decision = await evaluate(this.role.statements, {
      principal,
      action: 's3:GetObject',
      resource: `${this.role.bucketArn}/${key}`,
      // S3 puts the object's tags in the request context; a missing object has none.
      context: { ...context, 's3:ExistingObjectTag/ssp-owner': object?.tags['ssp-owner'] },
      resourcePolicy: this.role.bucketPolicy,
    });
    if (decision !== 'Allowed') {
      this.deniedReads++;
      throw awsError('AccessDenied', `${userid} may not read ${key}`);
    }
    if (object && object.tags['ssp-owner'] !== userid) this.crossReads++;
    return object?.body;
  }
}

describe(`${EXECUTIONS} concurrent executions, each with a real heartbeat runtime process`, () => {
  const fake = new FakeStepFunctions();
  const synthesized = synth();
  const definition = definitionOf(synthesized.json, (id) => id.includes('StateMachine') && !id.includes('Cleanup'));
  const role = instanceRolePolicies(synthesized.json);
  let bucket: FakeJobBucket;
  let work: string;

  beforeAll(async () => {
    requireBundle();
    await fake.start();
    work = tmpDir();
    bucket = new FakeJobBucket(role);
  });
  afterAll(async () => {
    await fake.stop();
    cleanupTmp();
  });

  /** One EC2 instance: waits for its own task document, then runs the job under the real runtime. */
  async function bootInstance(instanceId: string, neighbour: string): Promise<void> {
    // A curious job first tries its neighbour's task document: the policy must refuse it.
    await new Promise((r) => setTimeout(r, 50));
    try {
      await bucket.getAs(instanceId, `pipeline/tasks/${neighbour}.json`);
    } catch {
      // expected: AccessDenied
    }
    let doc: string | undefined;
    for (let i = 0; i < 200 && !doc; i++) {
      try {
        doc = await bucket.getAs(instanceId, `pipeline/tasks/${instanceId}.json`);
      } catch {
        doc = undefined; // not written yet (S3 answers AccessDenied for a missing object under this policy)
      }
      if (!doc) await new Promise((r) => setTimeout(r, 25));
    }
    if (!doc) throw new Error(`${instanceId} never got its task document`);
    const taskFile = path.join(work, `${instanceId}.json`);
    fs.writeFileSync(taskFile, doc);
    const script = path.join(work, 'job.sh');
    const cli = startCli(
      ['run', '--task-file', taskFile, '--', '/bin/bash', script],
      cliEnv(fake.url, { SSP_HEARTBEAT_INTERVAL_MS: '300' }),
      90_000,
    );
    await cli.done;
  }

  test('every execution gets its own result; none crosses', async () => {
    fs.writeFileSync(
      path.join(work, 'job.sh'),
      [
        '#!/bin/bash',
        'sleep 0.3',
        'echo "job of $SSP_EXECUTION_NAME with $1"',
        'printf \'{"execution":"%s","arg":"%s"}\' "$SSP_EXECUTION_NAME" "$1" > "$SSP_RESULT_FILE"',
        '# every fifth execution fails with its own exit code',
        'n=${1#arg-}; if [ $((n % 5)) -eq 4 ]; then exit $((n % 50 + 1)); fi',
      ].join('\n'),
      { mode: 0o755 },
    );

    const instanceOf = (i: number) => `i-${(0xa000 + i).toString(16).padStart(17, '0')}`;
    const booted: Promise<void>[] = [];
    const runs = Array.from({ length: EXECUTIONS }, (_, i) => {
      const name = `exec-${i}`;
      return runLocally(
        definition,
        { script: 'jobs/job.sh', args: [`arg-${i}`] },
        {
          [STATES.CHECK_SCRIPT]: () => ({}),
          [STATES.LAUNCH]: () => {
            booted.push(bootInstance(instanceOf(i), instanceOf((i + 1) % EXECUTIONS)));
            return { Instances: [{ InstanceId: instanceOf(i) }] };
          },
          [STATES.PAUSE]: async (input: any) => {
            fake.addToken(input.Body.taskToken, { heartbeatSeconds: input.Body.heartbeatSeconds });
            bucket.put(input.Key, input.Body, input.Tagging);
            const final = await fake.onFinal(input.Body.taskToken)!;
            if (final.action === 'SendTaskSuccess') return final.output;
            throw awsError(final.error!, final.cause);
          },
          [STATES.TERMINATE]: () => ({}),
          [STATES.NOTIFY_SUCCESS]: () => ({}),
          [STATES.NOTIFY_FAILURE]: () => ({}),
        },
        { executionName: name, taskToken: `token-${name}-${Math.random().toString(36).slice(2)}` },
      );
    });
    const results = await Promise.all(runs);
    await Promise.all(booted);

    let failed = 0;
    results.forEach((r, i) => {
      // Its own instance was terminated...
      expect(r.calls[STATES.TERMINATE]).toEqual([{ InstanceIds: [instanceOf(i)] }]);
      if (i % 5 === 4) {
        failed++;
        // ...and a failure carries its own exit code and its own output.
        expect(r.status).toBe('FAILED');
        expect(r.error).toBe('Job.NonZeroExit');
        const cause = JSON.parse(r.cause!);
        expect(cause.exitCode).toBe((i % 50) + 1);
        expect(cause.outputTail).toContain(`job of exec-${i} with arg-${i}`);
      } else {
        expect(r.status).toBe('SUCCEEDED');
        expect(r.output.job.result).toEqual({ execution: `exec-${i}`, arg: `arg-${i}` });
        expect(r.output.job.outputTail).toContain(`job of exec-${i} with arg-${i}`);
      }
    });
    expect(failed).toBe(EXECUTIONS / 5);
    // Every neighbour read was refused, and no instance ever read a document that was not its own.
    expect(bucket.crossReads).toBe(0);
    expect(bucket.deniedReads).toBeGreaterThanOrEqual(EXECUTIONS);
    // Exactly one final answer per token.
    for (const call of fake.callsFor('SendTaskSuccess').concat(fake.callsFor('SendTaskFailure'))) {
      expect(fake.finalsFor(call.token!)).toHaveLength(1);
    }
  }, 180_000);
});
