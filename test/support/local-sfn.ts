// The package's "require" export is a CommonJS build; ts-node (bench/) type-checks this import as ESM (TS1479),
// ts-jest does not (isolatedModules). Both load the CommonJS build.
// @ts-ignore TS1479
import { ExecutionAbortedError, ExecutionError, StateMachine } from 'aws-local-stepfunctions';

export type Handler = (input: any) => Promise<any> | any;

/** An error shaped the way an AWS service integration reports one to the state machine. */
export function awsError(name: string, cause = `${name} (local fake)`): Error {
  const e = new Error(cause);
  e.name = name;
  return e;
}

export interface LocalRunResult {
  /** ABORTED only for a run stopped through `onStart`'s abort. */
  readonly status: 'SUCCEEDED' | 'FAILED' | 'ABORTED';
  readonly output?: any;
  readonly error?: string;
  readonly cause?: string;
  /** Inputs each Task state's handler received, in call order. */
  readonly calls: Record<string, any[]>;
  /** The names of the states entered, in order. */
  readonly path: string[];
  readonly events: any[];
  /** The runs of nested state machines (aws-sdk:sfn:startSyncExecution tasks answered locally), in call order. */
  readonly nested: LocalRunResult[];
}

export interface LocalRunOptions {
  readonly executionName?: string;
  readonly taskToken?: string;
  /** Overrides the wait between retries, per state (ms). Defaults to 0 for every state with a handler. */
  readonly retryIntervals?: Record<string, number>;
  /** How long every Wait state waits (ms). Default 0. */
  readonly waitMs?: number;
  /** Called once the run has started, with a function that stops it (StopExecution): the run then ends ABORTED. */
  readonly onStart?: (abort: () => void) => void;
}

/** The resource of a task that runs an Express state machine synchronously and waits for its answer. */
export const START_SYNC_EXECUTION = 'arn:aws:states:::aws-sdk:sfn:startSyncExecution';

/** The state machines (by ARN) a definition's startSyncExecution tasks may call; see withStateMachines. */
const NESTED = new WeakMap<object, Record<string, any>>();

/**
 * Lets `runLocally(definition, ...)` answer every `aws-sdk:sfn:startSyncExecution` task that has no handler of its
 * own the way Step Functions does: by running the called state machine's definition (from `machines`, keyed by ARN)
 * in a second local interpreter. Returns `definition`.
 */
export function withStateMachines<T extends object>(definition: T, machines: Record<string, any>): T {
  NESTED.set(definition, machines);
  return definition;
}

/**
 * StartSyncExecution, answered by running `definition` locally. The answer has the API's shape (PascalCase, as SDK
 * integrations return it): 200 OK with `Status` SUCCEEDED and `Output` (a JSON string), or `Status` FAILED with the
 * execution's `Error` and `Cause`; a failed execution does not fail the call ("StartSyncExecution will return a 200 OK
 * response, even if your execution fails", https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartSyncExecution.html).
 */
export async function startSyncExecutionLocally(definition: any, request: any, nested: LocalRunResult[] = []): Promise<any> {
  // The API's input is JSON text; Step Functions serializes an object given for it (localstack/localstack#10174).
  const input = typeof request.Input === 'string' ? JSON.parse(request.Input) : request.Input;
  const name = `sync-${nested.length + 1}`;
  const r = await runLocally(definition, input ?? {}, {}, { executionName: name });
  nested.push(r);
  const stateMachineArn: string = request.StateMachineArn;
  const common = {
    ExecutionArn: `${stateMachineArn.replace(':stateMachine:', ':express:')}:${name}:00000000-0000-0000-0000-000000000000`,
    StateMachineArn: stateMachineArn,
    Name: name,
    StartDate: new Date().toISOString(),
    StopDate: new Date().toISOString(),
    Input: JSON.stringify(input),
    InputDetails: { Included: true },
    BillingDetails: { BilledMemoryUsedInMB: 64, BilledDurationInMilliseconds: 100 },
  };
  return r.status === 'SUCCEEDED'
    ? { ...common, Status: 'SUCCEEDED', Output: JSON.stringify(r.output), OutputDetails: { Included: true } }
    : { ...common, Status: 'FAILED', Error: r.error, Cause: r.cause };
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
  const nested: LocalRunResult[] = [];
  const machines = NESTED.get(definition) ?? {};
  const taskStates = collectTaskStates(definition);
  const localHandlers: Record<string, Handler> = {};
  for (const name of taskStates) {
    localHandlers[name] = async (stateInput: any) => {
      (calls[name] ??= []).push(stateInput);
      const h = handlers[name];
      if (h) return h(stateInput);
      const called = machines[stateInput?.StateMachineArn];
      if (called && resourceOf(definition, name) === START_SYNC_EXECUTION) return startSyncExecutionLocally(called, stateInput, nested);
      throw awsError('Test.NoHandler', `no local handler for task state '${name}'`);
    };
  }
  const retryIntervalOverrides: Record<string, number> = {};
  for (const name of taskStates) retryIntervalOverrides[name] = 0;
  // Wait states (the delay between attempts) pass at once unless a test asks for real time.
  const waitTimeOverrides: Record<string, number> = {};
  for (const name of collectStates(definition, 'Wait')) waitTimeOverrides[name] = opts.waitMs ?? 0;
  Object.assign(retryIntervalOverrides, opts.retryIntervals ?? {});

  const machine = machineOf(definition);
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

  opts.onStart?.(() => execution.abort());
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
    return { status: 'SUCCEEDED', output, calls, path, events, nested };
  } catch (err) {
    await collect.catch(() => undefined);
    if (err instanceof ExecutionAbortedError) return { status: 'ABORTED', calls, path, events, nested };
    if (err instanceof ExecutionError) {
      const cause: any = (err as any).cause;
      return { status: 'FAILED', error: cause?.name, cause: cause?.message, calls, path, events, nested };
    }
    throw err;
  }
}

/**
 * One interpreter per definition object: building one validates the whole definition, about 0.7 s for the run state
 * machine on these machines, while a run of it takes milliseconds. A StateMachine runs any number of executions.
 */
const MACHINES = new WeakMap<object, StateMachine>();
function machineOf(definition: any): StateMachine {
  let machine = MACHINES.get(definition);
  if (!machine) {
    machine = new StateMachine(definition, { validationOptions: { checkArn: false, checkPaths: true } as any });
    MACHINES.set(definition, machine);
  }
  return machine;
}

/** The Resource of the task state `name`, wherever it is nested. */
function resourceOf(def: any, name: string): string | undefined {
  for (const [n, state] of Object.entries<any>(def.States ?? {})) {
    if (n === name && state.Type === 'Task') return state.Resource;
    for (const inner of [state.ItemProcessor, state.Iterator, ...(state.Branches ?? [])]) {
      const found = inner ? resourceOf(inner, name) : undefined;
      if (found) return found;
    }
  }
  return undefined;
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
