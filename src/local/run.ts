/**
 * One local run of a pipeline: its synthesized run state machine in aws-local-stepfunctions (a real Amazon States
 * Language interpreter), every AWS task answered locally (see `answer` below), the instance a sandboxed temporary
 * folder where the template's own user data and runtime run the script (instance.ts).
 */
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
// The package's "require" export is a CommonJS build; tsc under module node16 type-checks this import as ESM (TS1479).
// esbuild bundles it either way (a devDependency: bundled into assets/local/cli, never installed with the library).
// @ts-ignore TS1479
import { ExecutionError, StateMachine } from 'aws-local-stepfunctions'; // eslint-disable-line import/no-extraneous-dependencies
import { LocalEndpoint } from './endpoint';
import { LocalInstance } from './instance';
import { assetFile, LOCAL_ACCOUNT, LOCAL_REGION, LocalPipeline, UsageError } from './template';
import type { LogForwarderResult } from '../protocol';
import { STATES } from '../workflow/states';

export interface RunOptions {
  readonly templateFile: string;
  readonly pipeline: LocalPipeline;
  /** The folder that stands for the job bucket (copied; the copy is what the run reads and writes). */
  readonly bucketDir: string;
  /** The execution input. */
  readonly input: unknown;
  readonly executionName: string;
  /** Where the run prints, line by line. */
  readonly out: (line: string) => void;
  /** Keep the temporary folder (the instance's files and the bucket copy with the run's logs). */
  readonly keep?: boolean;
  /** The runtime to use when the template's assets are not beside it (the runtime bundle shipped with this command). */
  readonly fallbackRuntime?: string;
  /** How long TerminateInstances waits for the bootstrap to power off on its own before ending it (ms). Default 10 s. */
  readonly terminateGraceMs?: number;
}

export interface RunResult {
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
  /** The SNS messages the run would have published. */
  readonly notifications: Array<{ readonly TopicArn: string; readonly Subject?: string; readonly Message: unknown }>;
  /** The names of the run state machine's states, as entered. */
  readonly path: string[];
  /** The temporary folder, when kept. */
  readonly kept?: string;
}

/** An error shaped the way an AWS service integration reports one to the state machine: `Error` is its name. */
function taskError(name: string, cause: string): Error {
  const e = new Error(cause);
  e.name = name;
  return e;
}

const OUT = '  │ ';

export async function runLocally(o: RunOptions): Promise<RunResult> {
  const def = o.pipeline.definition;
  const pause = def.States[STATES.PAUSE];
  if (!String(pause.Resource).endsWith(':s3:putObject.waitForTaskToken')) {
    throw new UsageError(
      `pipeline '${o.pipeline.name}' hands its task over with an activity; the local runner supports the default hand-off (TaskHandoff.taskToken()) only`,
    );
  }
  const bucket: string = pause.Parameters.Bucket;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ssp-local-'));
  const s3Root = path.join(root, 's3');
  fs.cpSync(o.bucketDir, path.join(s3Root, bucket), { recursive: true });
  const endpoint = new LocalEndpoint(s3Root);
  await endpoint.start();
  const instances = new Map<string, LocalInstance>();
  const byClientToken = new Map<string, string>();
  const notifications: RunResult['notifications'] = [];
  const statePath: string[] = [];
  /** How often each state of the run was entered (as printed), and how often its task was called. */
  const entered = new Map<string, number>();
  const handled = new Map<string, number>();

  o.out(`Local run '${o.executionName}' of pipeline '${o.pipeline.name}' (${o.pipeline.logicalId}) from ${o.templateFile}`);
  o.out(`  bucket s3://${bucket} = a copy of ${o.bucketDir}; instance and bucket copy in ${root}`);

  /**
   * Every AWS task of the run, answered locally by its Resource (the service integration it calls). An AWS SDK
   * integration returns the API's response with its PascalCase field names, and fails with `<Service>.<Exception>`
   * (https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html).
   */
  const answer = async (stateName: string, resource: string, input: any, machine: any): Promise<any> => {
    // The task acts (and prints) only after the event log printed that its state was entered; the interpreter hands
    // events out asynchronously, a few turns of the event loop after the fact. Bounded, so it can never hang a run.
    if (machine === def) {
      const call = (handled.get(stateName) ?? 0) + 1;
      handled.set(stateName, call);
      for (let turn = 0; turn < 1000 && (entered.get(stateName) ?? 0) < call; turn++) await new Promise((r) => setImmediate(r));
    }
    const integration = resource.replace(/^arn:aws:states:::/, '');
    switch (integration) {
      case 'aws-sdk:sfn:startSyncExecution': {
        const called = o.pipeline.machines[input.StateMachineArn];
        if (!called) throw taskError('Sfn.StateMachineDoesNotExistException', `no state machine ${input.StateMachineArn} in the template`);
        const nestedInput = typeof input.Input === 'string' ? JSON.parse(input.Input) : input.Input;
        const r = await execute(called, nestedInput ?? {}, `${o.executionName}-sync`, false);
        // The API's answer (PascalCase): 200 with Status SUCCEEDED and Output (JSON text), or Status FAILED with the
        // execution's Error and Cause; a failed execution does not fail the call
        // (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartSyncExecution.html).
        return r.status === 'SUCCEEDED'
          ? { Status: 'SUCCEEDED', Output: JSON.stringify(r.output), StateMachineArn: input.StateMachineArn }
          : { Status: 'FAILED', Error: r.error, Cause: r.cause, StateMachineArn: input.StateMachineArn };
      }
      case 'aws-sdk:s3:headObject': {
        const file = path.join(s3Root, input.Bucket, input.Key);
        if (!isInside(s3Root, file) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
          // The run's role may not list the bucket, so S3 answers a missing key with 403, which the SDK integration
          // reports as S3.S3Exception (test/fixtures/aws/s3-headobject-via-sfn.json).
          throw taskError('S3.S3Exception', 'null (Service: S3, Status Code: 403, Request ID: local, Extended Request ID: local)');
        }
        const stat = fs.statSync(file);
        // HeadObject's response headers (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html).
        return { ContentLength: stat.size, ContentType: 'binary/octet-stream', ETag: '"local"', LastModified: stat.mtime.toISOString() };
      }
      case 'aws-sdk:ec2:runInstances': {
        // The same ClientToken returns the instance of the earlier call instead of launching another
        // (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html).
        const again = input.ClientToken ? byClientToken.get(input.ClientToken) : undefined;
        const instanceId = again ?? `i-${randomBytes(8).toString('hex').slice(0, 17)}`;
        if (!again) {
          if (input.ClientToken) byClientToken.set(input.ClientToken, instanceId);
          instances.set(instanceId, startInstance(instanceId, Buffer.from(String(input.UserData ?? ''), 'base64').toString('utf8')));
          o.out(`  instance ${instanceId} started: the template's user data runs in ${path.join(root, instanceId)}`);
        }
        // RunInstances' response: a reservation whose instances start `pending`
        // (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RunInstances.html).
        return { Instances: [{ InstanceId: instanceId, State: { Name: 'pending' } }] };
      }
      case 'aws-sdk:s3:putObject.waitForTaskToken': {
        // The object is written, then the state waits until SendTaskSuccess / SendTaskFailure answers its token; the
        // success output becomes the state's result, a failure its error and cause
        // (https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html#connect-wait-token).
        const file = path.join(s3Root, input.Bucket, input.Key);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, JSON.stringify(input.Body));
        const outcome = await endpoint.waitFor(input.Body.taskToken, machine.States[stateName].HeartbeatSeconds);
        if (outcome.ok) return outcome.output;
        throw taskError(outcome.error, outcome.cause);
      }
      case 'aws-sdk:ec2:terminateInstances': {
        for (const id of input.InstanceIds ?? []) {
          const instance = instances.get(id);
          if (!instance) continue;
          await instance.terminate(o.terminateGraceMs ?? 10_000);
          o.out(`  instance ${id} terminated`);
        }
        // TerminateInstances' response (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_TerminateInstances.html).
        return { TerminatingInstances: (input.InstanceIds ?? []).map((id: string) => ({ InstanceId: id, CurrentState: { Name: 'shutting-down' } })) };
      }
      case 'sns:publish': {
        // The optimized SNS integration publishes Message (a JSON object is sent as its JSON text) and returns
        // Publish's MessageId (https://docs.aws.amazon.com/step-functions/latest/dg/connect-sns.html,
        // https://docs.aws.amazon.com/sns/latest/api/API_Publish.html).
        notifications.push({ TopicArn: input.TopicArn, Subject: input.Subject, Message: input.Message });
        o.out(`  notification that would be published to ${input.TopicArn} (and emailed to its subscribers):`);
        o.out(`    Subject: ${input.Subject ?? '(none)'}`);
        const text = typeof input.Message === 'string' ? input.Message : JSON.stringify(input.Message, null, 2);
        for (const line of text.split('\n')) o.out(`    ${line}`);
        return { MessageId: `local-${notifications.length}` };
      }
    }
    if (/^arn:aws:[a-z]+:[^:]*:[0-9]*:/.test(resource) && input?.logGroupName !== undefined && input?.logStreamName !== undefined) {
      // The log forwarder (jobLogRetention), invoked by function ARN: the state's result is the function's return value
      // (https://docs.aws.amazon.com/step-functions/latest/dg/connect-lambda.html). There is no log group locally; the
      // run log stays in the bucket copy.
      const result: LogForwarderResult = {
        logGroupName: input.logGroupName,
        logStreamName: input.logStreamName,
        logBytes: 0,
        events: 0,
        batches: 0,
        omittedBytes: 0,
      };
      o.out(`  (local) the run log is not forwarded to ${input.logGroupName}; it stays in the bucket copy at ${input.key}`);
      return result;
    }
    throw taskError('Local.Unsupported', `the local runner does not answer ${resource} (state '${stateName}')`);
  };

  function startInstance(instanceId: string, userData: string): LocalInstance {
    const dir = path.join(root, instanceId);
    fs.mkdirSync(dir);
    placeRuntime(userData);
    const instance = new LocalInstance({
      root: dir,
      s3Root,
      instanceId,
      userData,
      env: {
        // Dummy credentials and no config files or metadata lookups: the SDK in the runtime signs for nobody and
        // reaches only the local endpoint.
        AWS_ACCESS_KEY_ID: 'AKIALOCALLOCALLOCAL0',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_CONFIG_FILE: '/nonexistent/aws-config',
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_REGION: LOCAL_REGION,
        AWS_ENDPOINT_URL_SFN: endpoint.url,
        AWS_ENDPOINT_URL_S3: endpoint.url,
        // No Spot interruption notices locally (the runtime would poll instance metadata for them).
        SSP_SPOT_CHECK: '0',
      },
      // The runtime passes the job's output through to its own output, between its `[heartbeat]` lines.
      onBootstrapLine: (line) => o.out(/^\[(bootstrap|heartbeat)\]/.test(line) ? `  [instance] ${line}` : `${OUT}${line}`),
    });
    return instance;
  }

  /** Puts the runtime the user data downloads into the bucket copy: the template's own asset, else the shipped one. */
  function placeRuntime(userData: string): void {
    const url = /^RUNTIME_URL='([^']+)'$/m.exec(userData)?.[1];
    if (!url) throw new Error('the user data names no RUNTIME_URL');
    const file = assetFile(o.templateFile, url) ?? o.fallbackRuntime;
    if (!file || !fs.existsSync(file)) throw new UsageError(`the runtime asset for ${url} is not next to the template; run cdk synth again`);
    const dest = path.join(s3Root, url.slice('s3://'.length));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(file, dest);
  }

  /** Runs a definition in the interpreter, every Task state answered by `answer`. */
  async function execute(machine: any, input: unknown, name: string, print: boolean) {
    const handlers: Record<string, (i: any) => Promise<any>> = {};
    const retryIntervalOverrides: Record<string, number> = {};
    const waitTimeOverrides: Record<string, number> = {};
    for (const [stateName, state] of statesOf(machine)) {
      if (state.Type === 'Task') {
        handlers[stateName] = (i: any) => answer(stateName, state.Resource, i, machine);
        // Retries and Waits do not wait locally (a run would otherwise sit through minutes of back-off).
        retryIntervalOverrides[stateName] = 0;
      }
      if (state.Type === 'Wait') waitTimeOverrides[stateName] = 0;
    }
    const sm = new StateMachine(machine, { validationOptions: { checkArn: false, checkPaths: true } as any });
    const execution = sm.run(input as any, {
      overrides: { taskResourceLocalHandlers: handlers as any, retryIntervalOverrides, waitTimeOverrides },
      context: {
        Execution: {
          Id: `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:execution:${o.pipeline.logicalId}:${name}`,
          Name: name,
          Input: input as any,
          StartTime: new Date().toISOString(),
        },
        Task: { Token: `local-token-${randomBytes(12).toString('hex')}` },
      },
    });
    const events = (async () => {
      for await (const e of execution.eventLogs as AsyncIterable<any>) {
        if (!print) continue;
        if (e.type === 'StateEntered') {
          statePath.push(e.state.name);
          entered.set(e.state.name, (entered.get(e.state.name) ?? 0) + 1);
          const state = machine.States[e.state.name];
          const note = state?.Type === 'Wait' ? ' (a Wait: no waiting locally)' : '';
          o.out(`→ ${e.state.name}${note}`);
        } else if (e.type === 'StateFailed' && machine.States[e.state.name]?.Type !== 'Fail') {
          o.out(`  ✗ ${e.state.name} failed: ${e.Error}`);
        } else if (e.type === 'StateRetried') {
          o.out(`  ↻ ${e.state.name}: retry ${e.retry?.attempt ?? ''} (no back-off locally)`);
        } else if (e.type === 'StateCaught') {
          o.out(`  caught: on to ${e.catch?.catcher?.Next ?? 'the handler'}`);
        }
      }
    })();
    try {
      const output = await execution.result;
      await events.catch(() => undefined);
      return { status: 'SUCCEEDED' as const, output };
    } catch (err) {
      await events.catch(() => undefined);
      if (err instanceof ExecutionError) {
        const cause: any = (err as any).cause;
        return { status: 'FAILED' as const, error: cause?.name as string | undefined, cause: cause?.message as string | undefined };
      }
      throw err;
    }
  }

  try {
    const r = await execute(def, o.input, o.executionName, true);
    o.out('');
    o.out(`Execution ${r.status}`);
    if (r.status === 'FAILED') {
      o.out(`  error: ${r.error ?? '(none)'}`);
      o.out(`  cause: ${r.cause ?? '(none)'}`);
    }
    if (notifications.length === 0) o.out('  no notification would have been sent');
    if (o.keep) o.out(`  the run's files are in ${root} (the bucket copy under s3/${bucket}/pipeline/runs/)`);
    return { ...r, notifications, path: statePath, kept: o.keep ? root : undefined };
  } finally {
    for (const instance of instances.values()) await instance.terminate(0);
    await endpoint.stop();
    if (!o.keep) fs.rmSync(root, { recursive: true, force: true });
  }
}

/** Every state of a definition (with those inside Map and Parallel states), with its name. */
function statesOf(machine: any, out: Array<[string, any]> = []): Array<[string, any]> {
  for (const [name, state] of Object.entries<any>(machine.States ?? {})) {
    out.push([name, state]);
    for (const inner of [state.ItemProcessor, state.Iterator, ...(state.Branches ?? [])]) if (inner) statesOf(inner, out);
  }
  return out;
}

function isInside(dir: string, file: string): boolean {
  return path.resolve(file).startsWith(path.resolve(dir) + path.sep);
}
