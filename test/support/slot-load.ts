/**
 * The semaphore's load run (test/workflow/semaphore.test.ts and bench/bench.ts): many executions of the real run
 * definition in the local interpreter at once, the DynamoDB tasks answered by dynalite, EC2 faked with a count of live
 * instances, every job a short random sleep.
 */
import { LocalDynamo } from './dynamo-local';
import { Handler, LocalRunResult, runLocally } from './local-sfn';
import { SLOT_STATES } from '../../src/workflow/semaphore';
import { STATES } from '../../src/workflow/states';

/** The ARN of an execution `name` as runLocally names it. */
export const ARN_PREFIX = 'arn:aws:states:eu-west-1:111111111111:execution:Pipeline:';

/** EC2, SNS and DescribeExecution faked; a count of live instances; the DynamoDB tasks go to dynalite. */
export class Harness {
  public alive = 0;
  public maxAlive = 0;
  public launches = 0;
  /** Executions that are running, by ARN: what DescribeExecution answers RUNNING for. */
  public readonly running = new Set<string>();
  /** DescribeExecution's answer for ARNs that are not running (default SUCCEEDED). */
  public readonly ended = new Map<string, string | Error>();

  constructor(private readonly dynamo: LocalDynamo, private readonly definition: any) {}

  handlers(job: () => Promise<any> | any = () => ({ exitCode: 0, durationSeconds: 1, outputTail: 'ok\n' }), extra: Record<string, Handler> = {}): Record<string, Handler> {
    const live = new Set<string>();
    return {
      ...this.dynamo.handlers(this.definition),
      [STATES.CHECK_SCRIPT]: () => ({}),
      [STATES.LAUNCH]: () => {
        const id = `i-${String(++this.launches).padStart(17, '0')}`;
        live.add(id);
        this.alive++;
        this.maxAlive = Math.max(this.maxAlive, this.alive);
        return { Instances: [{ InstanceId: id }] };
      },
      [STATES.PAUSE]: job,
      [STATES.TERMINATE]: (input: any) => {
        for (const id of input.InstanceIds) if (live.delete(id)) this.alive--;
        return {};
      },
      [STATES.NOTIFY_SUCCESS]: () => ({ MessageId: 'm' }),
      [STATES.NOTIFY_FAILURE]: () => ({ MessageId: 'm' }),
      [SLOT_STATES.HOLDER_STATUS]: (input: any) => {
        if (this.running.has(input.ExecutionArn)) return { ExecutionArn: input.ExecutionArn, Status: 'RUNNING' };
        const ended = this.ended.get(input.ExecutionArn) ?? 'SUCCEEDED';
        if (ended instanceof Error) throw ended;
        return { ExecutionArn: input.ExecutionArn, Status: ended };
      },
      ...extra,
    };
  }

  /** One run, as Step Functions would name it; "running" while it runs. */
  async run(name: string, handlers: Record<string, Handler>, input: any = { script: 'jobs/job.sh' }, waitMs = 0): Promise<LocalRunResult> {
    this.running.add(ARN_PREFIX + name);
    try {
      return await runLocally(this.definition, input, handlers, { executionName: name, waitMs });
    } finally {
      this.running.delete(ARN_PREFIX + name);
    }
  }
}

export interface LoadResult {
  readonly results: LocalRunResult[];
  /** `error: cause` of every run that did not succeed. */
  readonly failures: string[];
  readonly launches: number;
  readonly maxAlive: number;
  readonly aliveAtEnd: number;
  /** Runs whose Terminate named an instance other than the one their launch returned. */
  readonly crossed: number;
  /** "Wait for a job slot" entered, over all runs. */
  readonly waits: number;
  /** States entered, over all runs. */
  readonly transitions: number;
  readonly wallMs: number;
}

/** `executions` runs at once; each job sleeps 20 to 60 ms; every Wait state waits `waitMs`. */
export async function loadRun(dynamo: LocalDynamo, definition: any, opts: { executions: number; waitMs: number }): Promise<LoadResult> {
  const h = new Harness(dynamo, definition);
  const launched: string[] = [];
  const t0 = Date.now();
  const results = await Promise.all(
    Array.from({ length: opts.executions }, (_, i) => {
      const handlers = h.handlers(async () => {
        await new Promise((r) => setTimeout(r, 20 + Math.floor(Math.random() * 40)));
        return { exitCode: 0, durationSeconds: 1, outputTail: 'ok\n' };
      });
      const launch = handlers[STATES.LAUNCH];
      handlers[STATES.LAUNCH] = async (input: any) => {
        const answer = await launch(input);
        launched[i] = answer.Instances[0].InstanceId;
        return answer;
      };
      return h.run(`load-${i}`, handlers, { script: 'jobs/job.sh' }, opts.waitMs);
    }),
  );
  const wallMs = Date.now() - t0;
  return {
    results,
    failures: results.filter((r) => r.status !== 'SUCCEEDED').map((r) => `${r.error}: ${r.cause}`),
    launches: h.launches,
    maxAlive: h.maxAlive,
    aliveAtEnd: h.alive,
    crossed: results.filter((r, i) => JSON.stringify(r.calls[STATES.TERMINATE]) !== JSON.stringify([{ InstanceIds: [launched[i]] }])).length,
    waits: results.reduce((n, r) => n + r.path.filter((p) => p === SLOT_STATES.WAIT).length, 0),
    transitions: results.reduce((n, r) => n + r.path.length, 0),
    wallMs,
  };
}
