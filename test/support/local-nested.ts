/**
 * Step Functions' `states:startExecution.sync:2` integration for the local ASL interpreter: a parent workflow's task
 * runs the pipeline's real run definition in a second interpreter, whose AWS calls are answered by fakes that share
 * one fake EC2 (which tracks every instance), and a run that ends ABORTED, TIMED_OUT or FAILED starts the pipeline's
 * real cleanup definition, as its EventBridge rule does.
 *
 * Every AWS behaviour these fakes rely on, with its source:
 * - A `.sync:2` task returns the nested execution's DescribeExecution answer in PascalCase, `Input` and `Output` as
 *   JSON ("startExecution.sync:2 ... the output is JSON", https://docs.aws.amazon.com/step-functions/latest/dg/connect-stepfunctions.html).
 * - A nested execution that does not succeed fails the task with `States.TaskFailed`, its cause the DescribeExecution
 *   answer as JSON text, with the nested execution's `Error` and `Cause` (LocalStack's StateTaskServiceSfn,
 *   `_build_sync2_resolver`, recorded against AWS; DescribeExecution's error/cause:
 *   https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html).
 * - The nested input carries AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID, the parent's execution ARN, when the task
 *   passes it (connect-stepfunctions.html, "associate a nested workflow execution with the parent").
 * - Stopping the parent stops the nested executions of its running `.sync` tasks: the synchronous pattern's IAM policy
 *   grants the parent `states:StopExecution` on the nested state machine's executions for this
 *   (https://docs.aws.amazon.com/step-functions/latest/dg/stepfunctions-iam.html). The AWS pages read did not state the
 *   propagation in words; it is what that grant exists for, and what the integ test should confirm on a real account.
 * - EventBridge sends "Step Functions Execution Status Change" for ABORTED, TIMED_OUT and FAILED executions
 *   (workflow/cleanup.ts, test/workflow/cleanup.test.ts for the event's shape).
 * - DescribeInstances filters `tag:<key>` and `instance-state-name` (EC2 API reference, DescribeInstances Filters).
 */
import { awsError, Handler, LocalRunResult, runLocally } from './local-sfn';
import { CLEANUP_STATES, STATES } from '../../src/workflow/states';

/** One instance of the fake EC2. */
export interface FakeInstance {
  readonly id: string;
  state: 'running' | 'terminated';
  readonly tags: Record<string, string>;
}

/** EC2 as the run and cleanup state machines use it: RunInstances, TerminateInstances, DescribeInstances. */
export class FakeEc2 {
  public readonly instances = new Map<string, FakeInstance>();

  runInstances(params: any): any {
    const id = `i-${String(this.instances.size + 1).padStart(17, '0')}`;
    const tags: Record<string, string> = {};
    for (const spec of params.TagSpecifications ?? []) {
      if (spec.ResourceType === 'instance') for (const t of spec.Tags) tags[t.Key] = t.Value;
    }
    this.instances.set(id, { id, state: 'running', tags });
    return { Instances: [{ InstanceId: id, State: { Name: 'pending' } }] };
  }

  terminateInstances(params: any): any {
    for (const id of params.InstanceIds) {
      const i = this.instances.get(id);
      if (i) i.state = 'terminated';
    }
    return { TerminatingInstances: params.InstanceIds.map((id: string) => ({ InstanceId: id })) };
  }

  describeInstances(params: any): any {
    const matches = [...this.instances.values()].filter((i) =>
      (params.Filters ?? []).every((f: any) => {
        if (f.Name === 'instance-state-name') return f.Values.includes(i.state);
        if (f.Name.startsWith('tag:')) return f.Values.includes(i.tags[f.Name.slice(4)]);
        throw new Error(`fake EC2: unknown filter ${f.Name}`);
      }),
    );
    return { Reservations: matches.map((i) => ({ Instances: [{ InstanceId: i.id, State: { Name: i.state } }] })) };
  }

  running(): FakeInstance[] {
    return [...this.instances.values()].filter((i) => i.state === 'running');
  }
}

/** What a job does with its task document (`Body`): returns the task output, throws `awsError(name)`, or waits. */
export type Job = (task: any) => any;

/** One nested run, as the parent started it. */
export interface NestedRun {
  readonly name: string;
  readonly arn: string;
  readonly input: any;
  result?: LocalRunResult;
  /** The cleanup's run, when the nested run ended ABORTED, TIMED_OUT or FAILED. */
  cleanup?: LocalRunResult;
}

export interface LocalPipelineDefinitions {
  /** The run state machine's definition (definitionOf: it runs "Validate input" in the validation definition). */
  readonly run: any;
  readonly cleanup: any;
}

/**
 * The pipeline's state machines behind `startExecution.sync:2`: `handler()` answers a parent's task state.
 */
export class LocalPipeline {
  public readonly ec2 = new FakeEc2();
  public readonly runs: NestedRun[] = [];
  public readonly notifications: any[] = [];
  private readonly aborts = new Map<string, () => void>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly pausedWaiters: Array<{ n: number; resolve: () => void }> = [];
  private paused = 0;

  constructor(private readonly definitions: LocalPipelineDefinitions, private readonly job: Job) {}

  /** The local answer of a `states:startExecution.sync:2` task. */
  handler(): Handler {
    return (request: any) => this.startExecutionSync(request);
  }

  /** Resolves once `n` jobs in all have reached "Pause for Job Completion" (their instance runs the job). */
  whenPaused(n: number): Promise<void> {
    if (this.paused >= n) return Promise.resolve();
    return new Promise((resolve) => this.pausedWaiters.push({ n, resolve }));
  }

  /** StopExecution of every nested run still running that `parentArn` started (see the header). */
  stopRunsStartedBy(parentArn: string): void {
    for (const run of this.runs) {
      if (run.input.AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID === parentArn && !run.result) this.aborts.get(run.arn)?.();
    }
  }

  /** Waits for every nested run and every cleanup to end. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private async startExecutionSync(request: any): Promise<any> {
    const input = typeof request.Input === 'string' ? JSON.parse(request.Input) : request.Input;
    const name = `run-${this.runs.length + 1}`;
    const arn = `arn:aws:states:eu-west-1:111111111111:execution:Pipeline:${name}`;
    const run: NestedRun = { name, arn, input };
    this.runs.push(run);
    const done = this.execute(run);
    this.pending.add(done);
    await done;
    this.pending.delete(done);
    const r = run.result!;
    const describe = {
      ExecutionArn: arn,
      StateMachineArn: request.StateMachineArn,
      Name: name,
      Status: r.status,
      StartDate: 1764300000000,
      StopDate: 1764300300000,
      Input: input,
      InputDetails: { Included: true },
    };
    if (r.status === 'SUCCEEDED') return { ...describe, Output: r.output, OutputDetails: { Included: true } };
    const failed = r.status === 'FAILED' ? { Error: r.error, Cause: r.cause } : {};
    throw awsError('States.TaskFailed', JSON.stringify({ ...describe, ...failed }));
  }

  private async execute(run: NestedRun): Promise<void> {
    let stopPause: (() => void) | undefined;
    const handlers: Record<string, Handler> = {
      [STATES.CHECK_SCRIPT]: () => ({ ContentLength: 1 }),
      [STATES.LAUNCH]: (p) => this.ec2.runInstances(p),
      [STATES.LAUNCH_SPOT]: (p) => this.ec2.runInstances(p),
      [STATES.PAUSE]: (p) => {
        this.paused++;
        for (const w of this.pausedWaiters.filter((x) => this.paused >= x.n)) w.resolve();
        // A job that never ends is stopped with its run: its pending answer is dropped.
        return Promise.race([Promise.resolve().then(() => this.job(p.Body)), new Promise((_r, reject) => (stopPause = () => reject(awsError('Test.Stopped'))))]);
      },
      [STATES.TERMINATE]: (p) => this.ec2.terminateInstances(p),
      [STATES.NOTIFY_SUCCESS]: (p) => (this.notifications.push(p), { MessageId: 'm' }),
      [STATES.NOTIFY_FAILURE]: (p) => (this.notifications.push(p), { MessageId: 'm' }),
    };
    run.result = await runLocally(this.definitions.run, run.input, handlers, {
      executionName: run.name,
      onStart: (abort) =>
        this.aborts.set(run.arn, () => {
          abort();
          stopPause?.();
        }),
    });
    if (run.result.status !== 'SUCCEEDED') run.cleanup = await this.cleanup(run);
  }

  /** The pipeline's cleanup, started as its EventBridge rule starts it. */
  private cleanup(run: NestedRun): Promise<LocalRunResult> {
    const event = {
      'version': '0',
      'detail-type': 'Step Functions Execution Status Change',
      'source': 'aws.states',
      'detail': { executionArn: run.arn, name: run.name, status: run.result!.status, input: JSON.stringify(run.input), output: null },
    };
    return runLocally(this.definitions.cleanup, event, {
      [CLEANUP_STATES.FIND]: (p) => this.ec2.describeInstances(p),
      [CLEANUP_STATES.TERMINATE]: (p) => this.ec2.terminateInstances(p),
      [CLEANUP_STATES.NOTIFY]: (p) => (this.notifications.push(p), { MessageId: 'm' }),
    });
  }
}
