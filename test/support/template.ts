import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { withStateMachines } from './local-sfn';
import { ShellScriptPipeline, ShellScriptPipelineProps } from '../../src';

/** Fixed environment for tests: account and region are placeholders, never a real account. */
export const TEST_ENV = { account: '111111111111', region: 'eu-west-1' };

export interface Synthesized {
  readonly app: App;
  readonly stack: Stack;
  readonly pipeline: ShellScriptPipeline;
  readonly template: Template;
  readonly json: any;
}

/** Synthesizes one stack holding one pipeline. */
export function synth(props: ShellScriptPipelineProps = {}, configure?: (stack: Stack) => ShellScriptPipelineProps): Synthesized {
  const app = new App();
  const stack = new Stack(app, 'TestStack', { env: TEST_ENV });
  const pipeline = new ShellScriptPipeline(stack, 'Nightly', { ...props, ...(configure ? configure(stack) : {}) });
  const template = Template.fromStack(stack);
  return { app, stack, pipeline, template, json: template.toJSON() };
}

/**
 * Replaces CloudFormation intrinsics with stand-in values the way a deployment would resolve them,
 * so a DefinitionString (or user data) can be read as plain text.
 * Refs become `ref-<LogicalId>` (ARNs for state machines, topics and roles), GetAtt `<LogicalId>.<Attr>`.
 */
export function resolveIntrinsics(input: any, resources: Record<string, any> = {}): any {
  if (typeof input === 'string' || typeof input === 'number' || typeof input === 'boolean' || input === null) return input;
  if (Array.isArray(input)) return input.map((v) => resolveIntrinsics(v, resources));
  const keys = Object.keys(input);
  if (keys.length === 1) {
    const [k] = keys;
    const v = input[k];
    switch (k) {
      case 'Fn::Join':
        return (v[1] as any[]).map((p) => String(resolveIntrinsics(p, resources))).join(v[0]);
      case 'Ref':
        return fakeRef(v, resources);
      case 'Fn::GetAtt':
        return fakeGetAtt(v[0], v[1], resources);
      case 'Fn::Base64':
        return Buffer.from(String(resolveIntrinsics(v, resources))).toString('base64');
      case 'Fn::Select':
        return resolveIntrinsics(v[1], resources)[v[0]];
      case 'Fn::Split':
        return String(resolveIntrinsics(v[1], resources)).split(v[0]);
      case 'Fn::Sub':
        return String(v).replace(/\$\{([^}]+)\}/g, (_m, name: string) => fakeRef(name, resources));
    }
  }
  const out: Record<string, any> = {};
  for (const k of keys) out[k] = resolveIntrinsics(input[k], resources);
  return out;
}

function fakeRef(name: string, resources: Record<string, any>): string {
  switch (name) {
    case 'AWS::Partition':
      return 'aws';
    case 'AWS::Region':
      return TEST_ENV.region;
    case 'AWS::AccountId':
      return TEST_ENV.account;
    case 'AWS::URLSuffix':
      return 'amazonaws.com';
    case 'AWS::StackName':
      return 'TestStack';
  }
  const type = resources[name]?.Type;
  if (type === 'Number') return '36000'; // a CloudFormation parameter of type Number (stands in for 10 hours)
  if (type === 'AWS::SNS::Topic') return `arn:aws:sns:${TEST_ENV.region}:${TEST_ENV.account}:${name}`;
  if (type === 'AWS::StepFunctions::StateMachine') return `arn:aws:states:${TEST_ENV.region}:${TEST_ENV.account}:stateMachine:${name}`;
  if (type === 'AWS::StepFunctions::Activity') return `arn:aws:states:${TEST_ENV.region}:${TEST_ENV.account}:activity:${name}`;
  if (name.startsWith('SsmParameterValue')) return 'ami-0123456789abcdef0';
  // A role's Ref is its name: the last part of the ARN fakeGetAtt gives it, so session ARNs built from either agree.
  if (type === 'AWS::IAM::Role') return name;
  return `ref-${name}`;
}

function fakeGetAtt(name: string, attr: string, resources: Record<string, any>): string {
  const type = resources[name]?.Type;
  if (attr === 'Arn') {
    if (type === 'AWS::IAM::Role') return `arn:aws:iam::${TEST_ENV.account}:role/${name}`;
    if (type === 'AWS::IAM::InstanceProfile') return `arn:aws:iam::${TEST_ENV.account}:instance-profile/${name}`;
    if (type === 'AWS::S3::Bucket') return `arn:aws:s3:::ref-${name}`;
    return `arn:aws:fake:${TEST_ENV.region}:${TEST_ENV.account}:${name}`;
  }
  if (attr === 'RoleId') return 'AROATESTROLEID';
  return `${name}.${attr}`;
}

/**
 * The state machine's definition as the service would see it after deployment. The template's other state machines
 * come with it for the local interpreter (withStateMachines): a task that calls one of them runs its definition.
 */
export function definitionOf(json: any, typeFilter: (logicalId: string) => boolean = () => true): any {
  const machines = Object.entries<any>(json.Resources).filter(
    ([id, r]) => r.Type === 'AWS::StepFunctions::StateMachine' && typeFilter(id),
  );
  if (machines.length !== 1) throw new Error(`expected one state machine, found ${machines.length}`);
  const [logicalId] = machines[0];
  const others: Record<string, any> = {};
  for (const [id, r] of Object.entries<any>(json.Resources)) {
    if (r.Type !== 'AWS::StepFunctions::StateMachine' || id === logicalId) continue;
    let definition: any;
    Object.defineProperty(others, fakeRef(id, json.Resources), { enumerable: true, get: () => (definition ??= resolvedDefinition(json, id)) });
  }
  return withStateMachines(resolvedDefinition(json, logicalId), others);
}

function resolvedDefinition(json: any, logicalId: string): any {
  const props = json.Resources[logicalId].Properties;
  const known = { ...(json.Parameters ?? {}), ...json.Resources };
  let text: string = resolveIntrinsics(props.DefinitionString, known);
  // CloudFormation replaces ${Key} with each DefinitionSubstitutions value after resolving it.
  for (const [key, substitution] of Object.entries<any>(props.DefinitionSubstitutions ?? {})) {
    text = text.split('${' + key + '}').join(String(resolveIntrinsics(substitution, known)));
  }
  return JSON.parse(text);
}

/** Convenience: the definition of the pipeline's run state machine. */
export function runDefinition(props: ShellScriptPipelineProps = {}): any {
  const { json } = synth(props);
  return definitionOf(json, (id) => id.includes('StateMachine') && !id.includes('Cleanup'));
}

export function testStack(): Stack {
  return new Stack(new App(), 'TestStack', { env: TEST_ENV });
}

/** Synthesizes once, on first use, so a failing synth fails the tests that need it rather than the whole file. */
export function lazySynth(props: ShellScriptPipelineProps, configure?: (stack: Stack) => ShellScriptPipelineProps): () => Synthesized {
  let s: Synthesized | undefined;
  return () => (s ??= synth(props, configure));
}

/** The CloudFormation value of a construct attribute, e.g. `{ Ref: '<LogicalId>' }`. */
export function cfn(s: Synthesized, token: unknown): any {
  return s.stack.resolve(token);
}

/** A construct attribute (token) as the test helpers resolve it, e.g. `arn:aws:s3:::ref-<LogicalId>`. */
export function value(s: Synthesized, token: unknown): any {
  return resolveIntrinsics(s.stack.resolve(token), s.json.Resources);
}

/** Logical ID behind an attribute that resolves to a `Ref`. */
export function refId(s: Synthesized, token: unknown): string {
  const ref = cfn(s, token).Ref;
  if (typeof ref !== 'string') throw new Error(`expected a Ref, got ${JSON.stringify(cfn(s, token))}`);
  return ref;
}

export function resourcesOfType(s: Synthesized, type: string): any[] {
  return Object.values<any>(s.json.Resources).filter((r) => r.Type === type);
}

/** Logical ID of the run state machine (`pipeline.stateMachine`), not of any other state machine in the stack. */
export function runMachineId(s: Synthesized): string {
  return refId(s, s.pipeline.stateMachine.stateMachineArn);
}

/** The run state machine's definition as the service would see it. */
export function runDefinitionOf(s: Synthesized): any {
  return definitionOf(s.json, (id) => id === runMachineId(s));
}

/** The cleanup state machine's definition as the service would see it. */
export function cleanupDefinitionOf(s: Synthesized): any {
  const id = refId(s, s.pipeline.cleanupStateMachine.stateMachineArn);
  return definitionOf(s.json, (logicalId) => logicalId === id);
}

/** The RunInstances parameters of 'Launch instance' (or of `state`). */
export function launchParameters(s: Synthesized, state = 'Launch instance'): any {
  return runDefinitionOf(s).States[state].Parameters;
}

/**
 * The subnet IDs 'Launch instance' launches in, first choice first: the literal SubnetId, or the list it picks from
 * (`States.ArrayGetItem($.<list>, ...)`, filled in by the state whose ResultPath is `$.<list>`, or handed to the input
 * validation state machine in 'Validate input', which returns it in the run's state).
 */
export function launchSubnets(s: Synthesized): string[] {
  const def = runDefinitionOf(s);
  const ni = def.States['Launch instance'].Parameters.NetworkInterfaces[0];
  if (typeof ni.SubnetId === 'string') return [ni.SubnetId];
  const m = /^States\.ArrayGetItem\(\$\.(\w+),/.exec(ni['SubnetId.$'] ?? '');
  if (!m) throw new Error(`cannot tell the subnets of 'Launch instance' from ${JSON.stringify(ni)}`);
  const source = [
    ...Object.values<any>(def.States).filter((st) => st.ResultPath === `$.${m[1]}` && Array.isArray(st.Result)).map((st) => st.Result),
    ...Object.values<any>(def.States).filter((st) => Array.isArray(st.Parameters?.Input?.[m[1]])).map((st) => st.Parameters.Input[m[1]]),
  ];
  if (source.length !== 1) throw new Error(`expected one state to set $.${m[1]}, found ${source.length}`);
  return source[0];
}

/** 'Pause for Job Completion' of the run state machine. */
export function pauseState(s: Synthesized): any {
  return runDefinitionOf(s).States['Pause for Job Completion'];
}

/** The bootstrap that 'Launch instance' (or the only launch, 'Launch Spot instance') hands to EC2, decoded. */
export function userDataOf(s: Synthesized): string {
  const states = runDefinitionOf(s).States;
  const launch = states['Launch instance'] ?? states['Launch Spot instance'];
  if (!launch) throw new Error('no launch state');
  return Buffer.from(launch.Parameters.UserData, 'base64').toString('utf8');
}

/** The raw `Fn::Base64` intrinsic that produces the user data in the template. */
export function rawUserDataIntrinsic(s: Synthesized): any {
  const found: any[] = [];
  const walk = (v: any): void => {
    if (Array.isArray(v)) {
      v.forEach(walk);
    } else if (v && typeof v === 'object') {
      if ('Fn::Base64' in v) found.push(v);
      else Object.values(v).forEach(walk);
    }
  };
  walk(s.json.Resources[runMachineId(s)].Properties);
  if (found.length !== 1) throw new Error(`expected one Fn::Base64 in the run state machine, found ${found.length}`);
  return found[0];
}

/** The lines of a script between `cat > "$WORK/<file>" <<'<MARK>'` and `<MARK>`: a file it writes. */
export function heredoc(script: string, file: string, mark: string): string {
  const start = script.indexOf(`cat > "$WORK/${file}" <<'${mark}'\n`);
  if (start < 0) throw new Error(`the script writes no $WORK/${file}`);
  const body = script.slice(script.indexOf('\n', start) + 1);
  return body.slice(0, body.indexOf(`\n${mark}\n`));
}

/** Expects constructing the pipeline with `props` to throw an error of this construct matching every pattern. */
export function expectRejected(props: ShellScriptPipelineProps | ((stack: Stack) => ShellScriptPipelineProps), ...patterns: RegExp[]): void {
  let message = '';
  try {
    if (typeof props === 'function') synth({}, props);
    else synth(props);
  } catch (e) {
    message = (e as Error).message;
  }
  expect(message).toMatch(/^ShellScriptPipeline 'Nightly': /);
  for (const p of patterns) expect(message).toMatch(p);
}

/** The message constructing the pipeline with `props` throws, or undefined. */
export function rejectionOf(props: ShellScriptPipelineProps | ((stack: Stack) => ShellScriptPipelineProps)): string | undefined {
  try {
    if (typeof props === 'function') synth({}, props);
    else synth(props);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}
