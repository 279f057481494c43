import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
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
export function resolveIntrinsics(value: any, resources: Record<string, any> = {}): any {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || value === null) return value;
  if (Array.isArray(value)) return value.map((v) => resolveIntrinsics(v, resources));
  const keys = Object.keys(value);
  if (keys.length === 1) {
    const [k] = keys;
    const v = value[k];
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
  for (const k of keys) out[k] = resolveIntrinsics(value[k], resources);
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

/** The state machine's definition as the service would see it after deployment. */
export function definitionOf(json: any, typeFilter: (logicalId: string) => boolean = () => true): any {
  const machines = Object.entries<any>(json.Resources).filter(
    ([id, r]) => r.Type === 'AWS::StepFunctions::StateMachine' && typeFilter(id),
  );
  if (machines.length !== 1) throw new Error(`expected one state machine, found ${machines.length}`);
  const props = machines[0][1].Properties;
  const known = { ...(json.Parameters ?? {}), ...json.Resources };
  let text: string = resolveIntrinsics(props.DefinitionString, known);
  // CloudFormation replaces ${Key} with each DefinitionSubstitutions value after resolving it.
  for (const [key, value] of Object.entries<any>(props.DefinitionSubstitutions ?? {})) {
    text = text.split('${' + key + '}').join(String(resolveIntrinsics(value, known)));
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
