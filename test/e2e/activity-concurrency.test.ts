/**
 * Activity mode end to end: 20 concurrent executions of the synthesized (activity-mode) definition in the local
 * interpreter, each with a fake instance running the real runtime's `claim-activity` and then `run`, all polling the
 * same activity on the local Step Functions endpoint. Any instance can draw any execution's task; none may keep one.
 */
import * as fs from 'fs';
import * as path from 'path';
import { TaskHandoff } from '../../src';
import { STATES } from '../../src/workflow/states';
import { cleanupTmp, cliEnv, requireBundle, startCli, tmpDir, waitFor } from '../runtime/harness';
import { FakeS3 } from '../support/fake-s3';
import { FakeStepFunctions } from '../support/fake-sfn';
import { awsError, runLocally } from '../support/local-sfn';
import { definitionOf, synth } from '../support/template';

const EXECUTIONS = 20;
const BUCKET = 'job-bucket';
const ROLE_ID = 'AROATESTROLEID';

describe(`activity mode: ${EXECUTIONS} concurrent executions with crossed draws`, () => {
  const sfn = new FakeStepFunctions({ activityPollHoldMs: 300 });
  const s3 = new FakeS3();
  const synthesized = synth({ taskHandoff: TaskHandoff.ACTIVITY });
  const definition = definitionOf(synthesized.json, (id) => id.includes('StateMachine') && !id.includes('Cleanup'));
  const activityArn: string = definition.States[STATES.PAUSE].Resource;
  let work: string;

  beforeAll(async () => {
    requireBundle();
    await Promise.all([sfn.start(), s3.start()]);
    work = tmpDir();
    fs.writeFileSync(
      path.join(work, 'job.sh'),
      ['#!/bin/bash', 'sleep 0.2', 'printf \'{"execution":"%s","arg":"%s"}\' "$SSP_EXECUTION_NAME" "$1" > "$SSP_RESULT_FILE"'].join('\n'),
      { mode: 0o755 },
    );
  });
  afterAll(async () => {
    await Promise.all([sfn.dispose(), s3.stop()]);
    cleanupTmp();
  });

  /** One instance: claim its own task from the activity (handing over others'), then run the job under the runtime. */
  async function bootInstance(instanceId: string, startAfter: Promise<unknown>, staggerMs: number): Promise<string> {
    await startAfter;
    await new Promise((r) => setTimeout(r, staggerMs));
    const env = cliEnv(sfn.url, { AWS_ENDPOINT_URL_S3: s3.url, SSP_HEARTBEAT_INTERVAL_MS: '300' });
    const taskFile = path.join(work, `${instanceId}.json`);
    const claimer = startCli(
      ['claim-activity', '--activity-arn', activityArn, '--instance-id', instanceId, '--bucket', BUCKET,
        '--owner-tag-value', `${ROLE_ID}:${instanceId}`, '--out', taskFile, '--handoff-interval-seconds', '0.2', '--wait-seconds', '60'],
      env,
      90_000,
    );
    await waitFor(() => fs.existsSync(taskFile), `${instanceId}'s task file`, 60_000);
    const run = startCli(['run', '--task-file', taskFile, '--', '/bin/bash', path.join(work, 'job.sh')], env, 90_000);
    const [claimed] = await Promise.all([claimer.done, run.done]);
    return claimed.stderr;
  }

  test('every execution completes with its own result, and foreign draws are handed over', async () => {
    const instanceOf = (i: number) => `i-${(0xb000 + i).toString(16).padStart(17, '0')}`;
    const booted: Promise<string>[] = [];
    // Make the draws cross for certain: every task is queued first, in reverse order, and only then do the
    // instances start polling, in forward order. (Any poller gets the oldest queued task, as in AWS.)
    const inputs: any[] = [];
    let allQueued!: () => void;
    const queued = new Promise<void>((resolve) => (allQueued = resolve));
    const tokens = new Map<number, string>();
    const queueWhenAllArrived = (i: number, input: any) => {
      inputs[i] = input;
      if (inputs.filter(Boolean).length < EXECUTIONS) return;
      for (let k = EXECUTIONS - 1; k >= 0; k--) {
        tokens.set(k, sfn.addActivityTask(activityArn, inputs[k], undefined, { heartbeatSeconds: inputs[k].heartbeatSeconds }));
      }
      allQueued();
    };
    const results = await Promise.all(
      Array.from({ length: EXECUTIONS }, (_, i) =>
        runLocally(
          definition,
          { script: 'jobs/job.sh', args: [`arg-${i}`] },
          {
            [STATES.CHECK_SCRIPT]: () => ({}),
            [STATES.LAUNCH]: () => {
              booted.push(bootInstance(instanceOf(i), queued, i * 30));
              return { Instances: [{ InstanceId: instanceOf(i) }] };
            },
            // The activity task: queued on the shared activity, answered by whichever instance ends up with its token.
            [STATES.PAUSE]: async (input: any) => {
              queueWhenAllArrived(i, input);
              await queued;
              const final = await sfn.onFinal(tokens.get(i)!)!;
              if (final.action === 'SendTaskSuccess') return final.output;
              throw awsError(final.error!, final.cause);
            },
            [STATES.TERMINATE]: () => ({}),
            [STATES.NOTIFY_SUCCESS]: () => ({}),
            [STATES.NOTIFY_FAILURE]: () => ({}),
          },
          { executionName: `exec-${i}` },
        ),
      ),
    );
    await Promise.all(booted);

    results.forEach((r, i) => {
      expect(r.status).toBe('SUCCEEDED');
      expect(r.output.job.result).toEqual({ execution: `exec-${i}`, arg: `arg-${i}` });
      expect(r.calls[STATES.TERMINATE]).toEqual([{ InstanceIds: [instanceOf(i)] }]);
    });
    // Each token got exactly one final answer.
    const finals = sfn.calls.filter((c) => c.action === 'SendTaskSuccess' || c.action === 'SendTaskFailure');
    expect(finals).toHaveLength(EXECUTIONS);
    expect(new Set(finals.map((c) => c.token)).size).toBe(EXECUTIONS);
    // Crossed draws did happen (instance 0 polled first and drew instance 19's task), and were handed over.
    const handovers = s3.keys(BUCKET, 'pipeline/handoff/');
    expect(handovers).toContain(`pipeline/handoff/${instanceOf(EXECUTIONS - 1)}.json`);
    expect(handovers.length).toBeGreaterThan(EXECUTIONS / 2);
    for (const key of handovers) {
      const owner = key.slice('pipeline/handoff/'.length, -'.json'.length);
      expect(s3.getObject(BUCKET, key)!.tags['ssp-owner']).toBe(`${ROLE_ID}:${owner}`);
    }
  }, 180_000);

  test('a task nobody polls is bounded by the execution timeout, which the cleanup rule turns into a terminate', () => {
    // aws-local-stepfunctions cannot reproduce "the activity's timers have not started"; what bounds such a run is the
    // execution-level TimeoutSeconds (TIMED_OUT), and test/workflow/cleanup.test.ts runs the cleanup for TIMED_OUT.
    // Twice the job timeout per attempt: the launch may wait up to jobTimeout for capacity (workflow/launch.ts).
    expect(definition.TimeoutSeconds).toBe(2 * 3600 + 1800);
    synthesized.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { detail: { status: ['ABORTED', 'TIMED_OUT', 'FAILED'] } },
    });
  });
});
