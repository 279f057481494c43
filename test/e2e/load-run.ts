/**
 * A local load run: N concurrent executions of the real run definition in the local interpreter, each with its own fake
 * EC2 instance that runs the job under a real heartbeat runtime process against a local Step Functions endpoint. The
 * job bucket's reads are decided by the IAM simulator with the synthesized policies. Used by
 * test/e2e/concurrency.test.ts (which asserts on the outcome) and bench/bench.ts (which prints its figures).
 */
import * as fs from 'fs';
import * as path from 'path';
import { STATES } from '../../src/workflow/states';
import { cliEnv, startCli } from '../runtime/harness';
import { FakeStepFunctions } from '../support/fake-sfn';
import { evaluate, InstanceRolePolicies } from '../support/iam';
import { awsError, LocalRunResult, runLocally } from '../support/local-sfn';

/**
 * The job bucket, with reads authorized by the instance role's synthesized policy and the bucket policy,
 * decided by the IAM simulator: a read succeeds only if they allow it for that caller's aws:userid and the
 * object's owner tag.
 */
export class FakeJobBucket {
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

/**
 * The job every execution runs: it prints and returns its own execution name and arg, and every fifth execution
 * (arg-4, arg-9, ...) fails with its own exit code, `n % 50 + 1`.
 */
export const LOAD_JOB = [
  '#!/bin/bash',
  'sleep 0.3',
  'echo "job of $SSP_EXECUTION_NAME with $1"',
  'printf \'{"execution":"%s","arg":"%s"}\' "$SSP_EXECUTION_NAME" "$1" > "$SSP_RESULT_FILE"',
  '# every fifth execution fails with its own exit code',
  'n=${1#arg-}; if [ $((n % 5)) -eq 4 ]; then exit $((n % 50 + 1)); fi',
].join('\n');

export interface LoadRunOptions {
  readonly executions: number;
  /** The run state machine's definition. */
  readonly definition: any;
  readonly role: InstanceRolePolicies;
  /** A started fake Step Functions endpoint. */
  readonly fake: FakeStepFunctions;
  /** A scratch directory for the job and the task files. */
  readonly work: string;
}

export interface LoadRunResult {
  readonly results: LocalRunResult[];
  readonly bucket: FakeJobBucket;
  /** Wall time from the first start to the last instance's runtime exit, in ms. */
  readonly wallMs: number;
  /** The instance ID of execution i. */
  readonly instanceOf: (i: number) => string;
  /**
   * Executions whose outcome is not their own: a success whose result names another execution or arg, or a failure
   * whose exit code or output tail is not its own, or an outcome (success or failure) other than the job's.
   */
  readonly crossed: number;
}

/** Whether execution i ended as its own job did (see LOAD_JOB). */
function ownOutcome(r: LocalRunResult, i: number): boolean {
  if (i % 5 === 4) {
    if (r.status !== 'FAILED' || r.error !== 'Job.NonZeroExit') return false;
    const cause = JSON.parse(r.cause!);
    return cause.exitCode === (i % 50) + 1 && String(cause.outputTail).includes(`job of exec-${i} with arg-${i}`);
  }
  return (
    r.status === 'SUCCEEDED' &&
    r.output.job.result?.execution === `exec-${i}` &&
    r.output.job.result?.arg === `arg-${i}` &&
    String(r.output.job.outputTail).includes(`job of exec-${i} with arg-${i}`)
  );
}

export async function runLoad(options: LoadRunOptions): Promise<LoadRunResult> {
  const { executions, definition, role, fake, work } = options;
  const bucket = new FakeJobBucket(role);
  fs.writeFileSync(path.join(work, 'job.sh'), LOAD_JOB, { mode: 0o755 });

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
    const cli = startCli(['run', '--task-file', taskFile, '--', '/bin/bash', path.join(work, 'job.sh')], cliEnv(fake.url, { SSP_HEARTBEAT_INTERVAL_MS: '300' }), 90_000);
    await cli.done;
  }

  const instanceOf = (i: number) => `i-${(0xa000 + i).toString(16).padStart(17, '0')}`;
  const booted: Promise<void>[] = [];
  const t0 = Date.now();
  const runs = Array.from({ length: executions }, (_, i) => {
    const name = `exec-${i}`;
    return runLocally(
      definition,
      { script: 'jobs/job.sh', args: [`arg-${i}`] },
      {
        [STATES.CHECK_SCRIPT]: () => ({}),
        [STATES.LAUNCH]: () => {
          booted.push(bootInstance(instanceOf(i), instanceOf((i + 1) % executions)));
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
  const wallMs = Date.now() - t0;
  const crossed = results.filter((r, i) => !ownOutcome(r, i)).length;
  return { results, bucket, wallMs, instanceOf, crossed };
}
