/**
 * runJob and fanOut: a parent workflow's states that run jobs of the pipeline. The parent's and the pipeline's real
 * synthesized definitions run in the local ASL interpreter; the parent's `startExecution.sync:2` tasks run the
 * pipeline's run definition (and, for runs that do not succeed, its cleanup definition) with one fake EC2
 * (test/support/local-nested.ts, which cites the AWS behaviour each fake relies on).
 */
import aslValidator from 'asl-validator';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { FanOutProps, RunJobProps, ShellScriptPipeline } from '../../src';
import { SHARD_ENV } from '../../src/protocol';
import { shardEnv } from '../../src/runtime/run-job';
import { Job, LocalPipeline } from '../support/local-nested';
import { awsError, Handler, runLocally } from '../support/local-sfn';
import { definitionOf, refId, resolveIntrinsics, TEST_ENV } from '../support/template';

interface Built {
  readonly stack: Stack;
  readonly pipeline: ShellScriptPipeline;
  readonly parent: sfn.StateMachine;
  readonly template: Template;
  readonly json: any;
}

/** A stack with one pipeline and a parent workflow made by `build`. */
function build(definition: (pipeline: ShellScriptPipeline, stack: Stack) => sfn.IChainable): Built {
  const stack = new Stack(new App(), 'TestStack', { env: TEST_ENV });
  const pipeline = new ShellScriptPipeline(stack, 'Nightly', { notifyOnSuccess: false });
  const parent = new sfn.StateMachine(stack, 'Parent', { definitionBody: sfn.DefinitionBody.fromChainable(definition(pipeline, stack)) });
  const template = Template.fromStack(stack);
  return { stack, pipeline, parent, template, json: template.toJSON() };
}

function definitions(b: Built) {
  const only = (token: string) => (id: string) => id === refId({ stack: b.stack, json: b.json } as any, token);
  return {
    parent: definitionOf(b.json, only(b.parent.stateMachineArn)),
    run: definitionOf(b.json, only(b.pipeline.stateMachine.stateMachineArn)),
    cleanup: definitionOf(b.json, only(b.pipeline.cleanupStateMachine.stateMachineArn)),
  };
}

/** Handlers for every `.sync:2` task state of the parent (by name), all answered by `local`. */
function syncHandlers(parent: any, local: LocalPipeline): Record<string, Handler> {
  const out: Record<string, Handler> = {};
  const walk = (def: any) => {
    for (const [name, s] of Object.entries<any>(def.States ?? {})) {
      if (s.Type === 'Task' && s.Resource === 'arn:aws:states:::states:startExecution.sync:2') out[name] = local.handler();
      if (s.ItemProcessor) walk(s.ItemProcessor);
      for (const b of s.Branches ?? []) walk(b);
    }
  };
  walk(parent);
  return out;
}

const okJob: Job = (task) => ({ exitCode: 0, durationSeconds: 1, outputTail: `${task.script} done\n`, result: { script: task.script } });

describe('runJob: a chain (Data Pipeline dependsOn)', () => {
  const chain = (pipeline: ShellScriptPipeline, stack: Stack) => {
    const props = (script: string, resultPath: string): RunJobProps => ({ input: { script, args: sfn.JsonPath.listAt('$.args'), env: { DAY: sfn.JsonPath.stringAt('$.date') } }, resultPath });
    const extract = pipeline.runJob(stack, 'Extract', props('jobs/extract.sh', '$.extract'));
    const transform = pipeline.runJob(stack, 'Transform', props('jobs/transform.sh', '$.transform'));
    const load = pipeline.runJob(stack, 'Load', props('jobs/load.sh', '$.load'));
    const caught = new sfn.Pass(stack, 'Caught');
    transform.addCatch(caught, { errors: ['Job.NonZeroExit'], resultPath: '$.failure' });
    return extract.next(transform).next(load);
  };
  const b = build(chain);
  const defs = definitions(b);

  test('runs the jobs in order, each with its input, and returns each run\'s task output', async () => {
    const local = new LocalPipeline(defs, okJob);
    const r = await runLocally(defs.parent, { date: '2026-01-01', args: ['2026-01-01'] }, syncHandlers(defs.parent, local));
    expect(r.status).toBe('SUCCEEDED');
    expect(local.runs.map((run) => run.input.script)).toEqual(['jobs/extract.sh', 'jobs/transform.sh', 'jobs/load.sh']);
    expect(local.runs.map((run) => [run.input.args, run.input.env])).toEqual(Array(3).fill([['2026-01-01'], { DAY: '2026-01-01' }]));
    expect(r.output.extract).toEqual({
      executionArn: local.runs[0].arn,
      job: { exitCode: 0, durationSeconds: 1, outputTail: 'jobs/extract.sh done\n', result: { script: 'jobs/extract.sh' } },
    });
    expect(r.output.load.job.exitCode).toBe(0);
    // Each nested input names the parent execution (the console's link), and the pipeline accepted it.
    expect(local.runs.every((run) => run.input.AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID === 'arn:aws:states:eu-west-1:111111111111:execution:Pipeline:exec-1')).toBe(true);
    expect(local.ec2.running()).toEqual([]);
  });

  test('the second job fails: the parent\'s Catch sees Job.NonZeroExit with the run\'s cause; the third never runs', async () => {
    const cause = JSON.stringify({ exitCode: 3, durationSeconds: 2, outputTail: 'boom\n' });
    const local = new LocalPipeline(defs, (task) => {
      if (task.script === 'jobs/transform.sh') throw awsError('Job.NonZeroExit', cause);
      return okJob(task);
    });
    const r = await runLocally(defs.parent, { date: '2026-01-01', args: ['2026-01-01'] }, syncHandlers(defs.parent, local));
    expect(r.status).toBe('SUCCEEDED');
    expect(r.path).toContain('Caught');
    expect(r.path).not.toContain('Load: run');
    expect(r.output.failure).toEqual({ Error: 'Job.NonZeroExit', Cause: cause });
    expect(local.runs.map((run) => run.input.script)).toEqual(['jobs/extract.sh', 'jobs/transform.sh']);
    expect(local.runs[1].result?.status).toBe('FAILED');
    expect(local.ec2.running()).toEqual([]);
  });

  test.each<[string, Job, string]>([
    ['job timeout', () => { throw awsError('States.Timeout', 'job timeout'); }, 'States.Timeout'],
    ['spot interruption', () => { throw awsError('Job.SpotInterrupted', 'interrupted'); }, 'Job.SpotInterrupted'],
  ])('without a Catch, the workflow fails with the run\'s own error: %s', async (_name, job, error) => {
    const b2 = build((pipeline, stack) => pipeline.runJob(stack, 'Only', { input: { script: 'jobs/x.sh' } }));
    const d = definitions(b2);
    const r = await runLocally(d.parent, {}, syncHandlers(d.parent, new LocalPipeline(d, job)));
    expect(r.status).toBe('FAILED');
    expect(r.error).toBe(error);
  });

  test('bad input in the nested run: the workflow fails with its Input.* error', async () => {
    const b2 = build((pipeline, stack) => pipeline.runJob(stack, 'Only', { input: { script: sfn.JsonPath.stringAt('$.script') } }));
    const d = definitions(b2);
    const r = await runLocally(d.parent, { script: 'pipeline/tasks/x.json' }, syncHandlers(d.parent, new LocalPipeline(d, okJob)));
    expect(r.error).toBe('Input.ReservedKey');
  });

  test('a cause that is not a nested run passes through as States.TaskFailed', async () => {
    const b2 = build((pipeline, stack) => pipeline.runJob(stack, 'Only', { input: { script: 'jobs/x.sh' } }));
    const d = definitions(b2);
    const r = await runLocally(d.parent, {}, { 'Only: run': () => { throw awsError('States.TaskFailed', 'not JSON'); } });
    expect({ error: r.error, cause: r.cause }).toEqual({ error: 'States.TaskFailed', cause: 'not JSON' });
  });

  test.each<[string, Record<string, unknown>, string]>([
    ['TIMED_OUT without an error', { Status: 'TIMED_OUT' }, 'States.Timeout'],
    ['ABORTED (stopped by hand)', { Status: 'ABORTED' }, 'States.TaskFailed'],
    ['FAILED with an error and no cause', { Status: 'FAILED', Error: 'Terminate.Failed' }, 'Terminate.Failed'],
  ])('a nested run that ended %s raises %s', async (_name, describe, error) => {
    const b2 = build((pipeline, stack) => pipeline.runJob(stack, 'Only', { input: { script: 'jobs/x.sh' } }));
    const d = definitions(b2);
    const cause = JSON.stringify({ ExecutionArn: 'arn:x', ...describe });
    const r = await runLocally(d.parent, {}, { 'Only: run': () => { throw awsError('States.TaskFailed', cause); } });
    expect(r.error).toBe(error);
    expect(r.cause).toBe(cause);
  });

  test('a start refused by the executions quota (StepFunctions.ExecutionLimitExceeded) is retried', async () => {
    const b2 = build((pipeline, stack) => pipeline.runJob(stack, 'Only', { input: { script: 'jobs/x.sh' } }));
    const d = definitions(b2);
    const local = new LocalPipeline(d, okJob);
    const sync = local.handler();
    let refused = 0;
    const r = await runLocally(d.parent, {}, {
      'Only: run': (req) => {
        if (refused++ < 2) throw awsError('StepFunctions.ExecutionLimitExceeded');
        return sync(req);
      },
    });
    expect(r.status).toBe('SUCCEEDED');
    expect(r.calls['Only: run']).toHaveLength(3);
    expect(local.runs).toHaveLength(1);
  });

  test('the parent\'s definition is valid ASL', () => {
    const { isValid, errorsText } = aslValidator(defs.parent);
    expect(errorsText('\n')).toBe('');
    expect(isValid).toBe(true);
  });

  test('grants the workflow role what startExecution.sync:2 needs, and nothing on other state machines', () => {
    const policy = Object.values<any>(b.json.Resources).find(
      (r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles).includes('ParentRole'),
    );
    const statements: any[] = policy.Properties.PolicyDocument.Statement;
    const actions = (a: string) => statements.filter((s) => [s.Action].flat().includes(a));
    expect(actions('states:StartExecution')).toEqual([
      expect.objectContaining({ Effect: 'Allow', Resource: b.stack.resolve(b.pipeline.stateMachine.stateMachineArn) }),
    ]);
    const describe = actions('states:DescribeExecution');
    expect(describe).toHaveLength(1);
    expect([describe[0].Action].flat()).toEqual(expect.arrayContaining(['states:DescribeExecution', 'states:StopExecution']));
    // The pipeline's executions only (CDK writes the state machine's name, then '*').
    const runId = refId({ stack: b.stack, json: b.json } as any, b.pipeline.stateMachine.stateMachineArn);
    expect(resolveIntrinsics(describe[0].Resource, b.json.Resources)).toBe(`arn:aws:states:eu-west-1:111111111111:execution:${runId}*`);
    const events = actions('events:PutRule');
    expect(events).toHaveLength(1);
    expect(events[0].Action).toEqual(['events:PutTargets', 'events:PutRule', 'events:DescribeRule']);
    expect(JSON.stringify(events[0].Resource)).toMatch(/:rule\/StepFunctionsGetEventsForStepFunctionsExecutionRule"/);
  });

  test('fails at synth on input the run would reject', () => {
    const stack = new Stack(new App(), 'S', { env: TEST_ENV });
    const pipeline = new ShellScriptPipeline(stack, 'Nightly');
    expect(() => pipeline.runJob(stack, 'Bad', { input: { script: 'pipeline/x.sh', env: { SSP_TASK_FILE: 'x' } } })).toThrow(
      /runJob 'Bad': 'input': 'script' must be a key .*'env' must not set 'SSP_TASK_FILE'/,
    );
    expect(() => pipeline.runJob(stack, 'Neither', { input: {} })).toThrow(/exactly one of 'script'/);
  });
});

describe('fanOut: one run per shard', () => {
  const fan = (props: Partial<FanOutProps>) => (pipeline: ShellScriptPipeline, stack: Stack) =>
    pipeline.fanOut(stack, 'Transform', { input: { script: 'jobs/transform.sh' }, shardsPath: '$.parts', resultPath: '$.transform', ...props });
  /** The job's environment as the runtime would build it from the task document. */
  const seen: Job = (task) => ({ exitCode: 0, durationSeconds: 1, outputTail: '', result: shardEnv(task.shard) });

  test('5 shards: every run sees its own index, the count and its value; the result is in list order', async () => {
    const b = build(fan({ maxConcurrency: 2 }));
    const d = definitions(b);
    const parts = ['p0', 'p1', 'p2', 'p3', 'p4'];
    const local = new LocalPipeline(d, seen);
    const r = await runLocally(d.parent, { parts }, syncHandlers(d.parent, local));
    expect(r.status).toBe('SUCCEEDED');
    expect(local.runs).toHaveLength(5);
    expect(r.output.transform.shards.map((s: any) => s.job.result)).toEqual(
      parts.map((p, i) => ({ [SHARD_ENV.INDEX]: String(i), [SHARD_ENV.COUNT]: '5', [SHARD_ENV.VALUE]: p })),
    );
    expect(r.output.transform.shards.map((s: any) => s.shard)).toEqual(parts.map((value, index) => ({ index, count: 5, value })));
    expect(r.output.parts).toEqual(parts);
    expect(d.parent.States.Transform.Branches[0].States['Transform: each shard'].MaxConcurrency).toBe(2);
    expect(local.ec2.running()).toEqual([]);
  });

  test('a fixed list of shards works the same way', async () => {
    const b = build(fan({ shardsPath: undefined, shards: ['eu', 'us', 'apac'] }));
    const d = definitions(b);
    const r = await runLocally(d.parent, {}, syncHandlers(d.parent, new LocalPipeline(d, seen)));
    expect(r.output.transform.shards.map((s: any) => s.job.result[SHARD_ENV.VALUE])).toEqual(['eu', 'us', 'apac']);
  });

  const failing = (bad: string[]): Job => (task) => {
    if (bad.includes(task.shard.value)) throw awsError('Job.NonZeroExit', `${task.shard.value} failed`);
    return seen(task);
  };

  test('default: one failed shard fails the fan-out with that shard\'s own error', async () => {
    const b = build(fan({}));
    const d = definitions(b);
    const local = new LocalPipeline(d, failing(['p2']));
    const r = await runLocally(d.parent, { parts: ['p0', 'p1', 'p2'] }, syncHandlers(d.parent, local));
    await local.settled();
    expect(r.error).toBe('Job.NonZeroExit');
    expect(r.cause).toBe('p2 failed');
    expect(local.ec2.running()).toEqual([]);
  });

  test('toleratedFailureCount 1: one failed shard is listed with its error; two fail the fan-out', async () => {
    const b = build(fan({ toleratedFailureCount: 1 }));
    const d = definitions(b);
    const one = await runLocally(d.parent, { parts: ['p0', 'p1', 'p2'] }, syncHandlers(d.parent, new LocalPipeline(d, failing(['p1']))));
    expect(one.status).toBe('SUCCEEDED');
    const shards = one.output.transform.shards;
    expect(shards[1]).toMatchObject({ shard: { index: 1, value: 'p1' }, failed: true, error: { Error: 'Job.NonZeroExit', Cause: 'p1 failed' } });
    expect(shards[0].job.exitCode).toBe(0);
    expect(shards[0].failed).toBeUndefined();

    const two = await runLocally(d.parent, { parts: ['p0', 'p1', 'p2'] }, syncHandlers(d.parent, new LocalPipeline(d, failing(['p0', 'p2']))));
    expect(two.error).toBe('FanOut.TooManyShardsFailed');
  });

  test('stopping the parent mid-run stops every shard\'s run, and the cleanup leaves no instance', async () => {
    const b = build(fan({}));
    const d = definitions(b);
    // Every job runs until its run is stopped.
    const local = new LocalPipeline(d, () => new Promise(() => undefined));
    let stopParent: () => void = () => undefined;
    const parentArn = 'arn:aws:states:eu-west-1:111111111111:execution:Pipeline:exec-1';
    const running = runLocally(d.parent, { parts: ['a', 'b', 'c'] }, syncHandlers(d.parent, local), { onStart: (abort) => (stopParent = abort) });
    await local.whenPaused(3);
    expect(local.ec2.running()).toHaveLength(3);
    stopParent();
    local.stopRunsStartedBy(parentArn);
    const r = await running;
    await local.settled();
    expect(r.status).toBe('ABORTED');
    expect(local.runs.map((run) => run.result?.status)).toEqual(['ABORTED', 'ABORTED', 'ABORTED']);
    expect(local.runs.map((run) => run.cleanup?.calls['Terminate leftover instances']?.length)).toEqual([1, 1, 1]);
    expect(local.ec2.instances.size).toBe(3);
    expect(local.ec2.running()).toEqual([]);
  });

  test('fails at synth without shards, with both, or with a bad count', () => {
    const stack = new Stack(new App(), 'S', { env: TEST_ENV });
    const pipeline = new ShellScriptPipeline(stack, 'Nightly');
    const input = { script: 'jobs/t.sh' };
    expect(() => pipeline.fanOut(stack, 'A', { input })).toThrow(/fanOut 'A' needs exactly one of 'shards'/);
    expect(() => pipeline.fanOut(stack, 'B', { input, shards: ['x'], shardsPath: '$.x' })).toThrow(/exactly one of 'shards'/);
    expect(() => pipeline.fanOut(stack, 'C', { input, shards: ['x'], toleratedFailureCount: -1 })).toThrow(/'toleratedFailureCount' must be a whole number/);
  });
});
