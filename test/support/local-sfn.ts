import { ExecutionError, StateMachine } from 'aws-local-stepfunctions';

export type Handler = (input: any) => Promise<any> | any;

/** An error shaped the way an AWS service integration reports one to the state machine. */
export function awsError(name: string, cause = `${name} (local fake)`): Error {
  const e = new Error(cause);
  e.name = name;
  return e;
}

export interface LocalRunResult {
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly output?: any;
  readonly error?: string;
  readonly cause?: string;
  /** Inputs each Task state's handler received, in call order. */
  readonly calls: Record<string, any[]>;
  /** The names of the states entered, in order. */
  readonly path: string[];
  readonly events: any[];
}

export interface LocalRunOptions {
  readonly executionName?: string;
  readonly taskToken?: string;
  /** Overrides the wait between retries, per state (ms). Defaults to 0 for every state with a handler. */
  readonly retryIntervals?: Record<string, number>;
  /** How long every Wait state waits (ms). Default 0. */
  readonly waitMs?: number;
}

/**
 * Runs a synthesized state machine definition in aws-local-stepfunctions, a real ASL interpreter,
 * with every Task state answered by a local handler (keyed by state name) that records its input.
 * A Task state without a handler fails the run, so nothing ever calls AWS.
 */
export async function runLocally(
  definition: any,
  input: any,
  handlers: Record<string, Handler>,
  opts: LocalRunOptions = {},
): Promise<LocalRunResult> {
  const calls: Record<string, any[]> = {};
  const taskStates = collectTaskStates(definition);
  const localHandlers: Record<string, Handler> = {};
  for (const name of taskStates) {
    localHandlers[name] = async (stateInput: any) => {
      (calls[name] ??= []).push(stateInput);
      const h = handlers[name];
      if (!h) throw awsError('Test.NoHandler', `no local handler for task state '${name}'`);
      return h(stateInput);
    };
  }
  const retryIntervalOverrides: Record<string, number> = {};
  for (const name of taskStates) retryIntervalOverrides[name] = 0;
  // Wait states (the delay between attempts) pass at once unless a test asks for real time.
  const waitTimeOverrides: Record<string, number> = {};
  for (const name of collectStates(definition, 'Wait')) waitTimeOverrides[name] = opts.waitMs ?? 0;
  Object.assign(retryIntervalOverrides, opts.retryIntervals ?? {});

  const machine = new StateMachine(definition, { validationOptions: { checkArn: false, checkPaths: true } as any });
  const executionName = opts.executionName ?? 'exec-1';
  const execution = machine.run(input, {
    overrides: { taskResourceLocalHandlers: localHandlers as any, retryIntervalOverrides, waitTimeOverrides },
    context: {
      Execution: {
        Id: `arn:aws:states:eu-west-1:111111111111:execution:Pipeline:${executionName}`,
        Name: executionName,
        Input: input,
        StartTime: new Date().toISOString(),
      },
      Task: { Token: opts.taskToken ?? `token-${executionName}` },
    },
  });

  const events: any[] = [];
  const path: string[] = [];
  const collect = (async () => {
    for await (const e of execution.eventLogs as AsyncIterable<any>) {
      events.push(e);
      if (e.type === 'StateEntered') path.push(e.state.name);
    }
  })();

  try {
    const output = await execution.result;
    await collect.catch(() => undefined);
    return { status: 'SUCCEEDED', output, calls, path, events };
  } catch (err) {
    await collect.catch(() => undefined);
    if (err instanceof ExecutionError) {
      const cause: any = (err as any).cause;
      return { status: 'FAILED', error: cause?.name, cause: cause?.message, calls, path, events };
    }
    throw err;
  }
}

function collectTaskStates(def: any): string[] {
  return collectStates(def, 'Task');
}

function collectStates(def: any, type: string, out: string[] = []): string[] {
  for (const [name, state] of Object.entries<any>(def.States ?? {})) {
    if (state.Type === type) out.push(name);
    if (state.ItemProcessor) collectStates(state.ItemProcessor, type, out);
    if (state.Iterator) collectStates(state.Iterator, type, out);
    for (const b of state.Branches ?? []) collectStates(b, type, out);
  }
  return out;
}
