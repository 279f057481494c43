/**
 * The multi-step example (example/etl.ts): extract → transform ×3 shards → load, run with the real synthesized
 * definitions of the parent and of the pipeline in the local interpreter (test/support/local-nested.ts).
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { etlWorkflow } from '../../example/etl';
import { ShellScriptPipeline } from '../../src';
import { shardEnv } from '../../src/runtime/run-job';
import { Job, LocalPipeline } from '../support/local-nested';
import { awsError, Handler, runLocally } from '../support/local-sfn';
import { definitionOf, refId, TEST_ENV } from '../support/template';

const stack = new Stack(new App(), 'TestStack', { env: TEST_ENV });
const pipeline = new ShellScriptPipeline(stack, 'Etl', { notifyOnSuccess: false, notifyOnFailure: false });
const parent = etlWorkflow(stack, 'EtlWorkflow', { pipeline, topic: pipeline.topic, shards: ['eu', 'us', 'apac'] });
const json = Template.fromStack(stack).toJSON();
const s = { stack, json } as any;
const only = (token: string) => (id: string) => id === refId(s, token);
const defs = {
  parent: definitionOf(json, only(parent.stateMachineArn)),
  run: definitionOf(json, only(pipeline.stateMachine.stateMachineArn)),
  cleanup: definitionOf(json, only(pipeline.cleanupStateMachine.stateMachineArn)),
};

function run(job: Job) {
  const local = new LocalPipeline(defs, job);
  const sync = local.handler();
  const notified: any[] = [];
  const handlers: Record<string, Handler> = {
    'Extract: run': sync,
    'Transform: shard: run': sync,
    'Load: run': sync,
    'Notify ETL success': (p) => (notified.push(p), { MessageId: 'm' }),
    'Notify ETL failure': (p) => (notified.push(p), { MessageId: 'm' }),
  };
  return runLocally(defs.parent, { date: '2026-01-01' }, handlers).then((r) => ({ r, local, notified }));
}

const ok: Job = (task) => ({ exitCode: 0, durationSeconds: 1, outputTail: `${task.script}\n`, result: { ...shardEnv(task.shard), DAY: task.env.DAY } });

test('a good night: extract, three transform shards, load, and one SUCCEEDED notification from the parent', async () => {
  const { r, local, notified } = await run(ok);
  expect(r.status).toBe('SUCCEEDED');
  expect(local.runs.map((x) => x.input.script)).toEqual(['jobs/extract.sh', 'jobs/transform.sh', 'jobs/transform.sh', 'jobs/transform.sh', 'jobs/load.sh']);
  expect(local.runs.every((x) => x.input.env.DAY === '2026-01-01')).toBe(true);
  // The pipeline's own notifications are off: the parent's is the only one.
  expect(local.notifications).toEqual([]);
  expect(notified).toHaveLength(1);
  expect(notified[0].Subject).toBe('SUCCEEDED: ETL 2026-01-01');
  expect(notified[0].Message.transform.map((t: any) => t.job.result.SSP_SHARD)).toEqual(['eu', 'us', 'apac']);
  expect(local.ec2.running()).toEqual([]);
});

test('a failed shard: no load, one FAILED notification with the shard\'s error, the parent fails with it', async () => {
  const { r, local, notified } = await run((task) => {
    if (task.shard?.value === 'us') throw awsError('Job.NonZeroExit', '{"exitCode":2}');
    return ok(task);
  });
  await local.settled();
  expect(r.status).toBe('FAILED');
  expect(r.error).toBe('Job.NonZeroExit');
  expect(local.runs.map((x) => x.input.script)).not.toContain('jobs/load.sh');
  expect(notified).toHaveLength(1);
  expect(notified[0].Subject).toBe('FAILED: ETL 2026-01-01');
  expect(notified[0].Message.error.Error).toBe('Job.NonZeroExit');
  expect(local.ec2.running()).toEqual([]);
});
