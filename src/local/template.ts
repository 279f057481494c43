/**
 * Reads a synthesized CloudFormation template (what `cdk synth` writes) the way the local runner needs it: the
 * pipelines it holds, each one's run state machine definition, the other state machines it calls, and the user data
 * of its launch, with every CloudFormation intrinsic resolved to a local stand-in value.
 */
import * as fs from 'fs';
import * as path from 'path';
import { STATES } from '../workflow/states';

/** The account and Region every local ARN uses. */
export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_REGION = 'us-east-1';
/** What the instance role's RoleId resolves to (it names the run's log folder, as `<RoleId>:<InstanceId>`). */
export const LOCAL_ROLE_ID = 'AROALOCALROLEID';

/** One pipeline of a template. */
export interface LocalPipeline {
  /** The construct path below the stack (`Nightly`), else the run state machine's logical ID. */
  readonly name: string;
  /** The run state machine's logical ID. */
  readonly logicalId: string;
  /** The run state machine's definition, intrinsics resolved. */
  readonly definition: any;
  /** Every state machine of the template by the ARN a task uses for it (the validation machine, the cleanup machine). */
  readonly machines: Record<string, any>;
  /** The cleanup state machine's definition, if the template has one for this pipeline (for --diagram). */
  readonly cleanup?: any;
}

/** A usage problem the CLI reports without a stack trace. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The pipelines of the template at `file`. */
export function readPipelines(file: string): LocalPipeline[] {
  if (!fs.existsSync(file)) throw new UsageError(`--template: ${file} does not exist (run cdk synth first; it writes cdk.out/<Stack>.template.json)`);
  let json: any;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`--template: ${file} is not JSON: ${(e as Error).message}`);
  }
  const resources: Record<string, any> = json?.Resources ?? {};
  const machineIds = Object.keys(resources).filter((id) => resources[id].Type === 'AWS::StepFunctions::StateMachine');
  const definitions = new Map<string, any>();
  const definitionOf = (id: string) => {
    if (!definitions.has(id)) definitions.set(id, resolvedDefinition(json, id));
    return definitions.get(id);
  };
  const machines: Record<string, any> = {};
  for (const id of machineIds) {
    Object.defineProperty(machines, stateMachineArn(id), { enumerable: true, get: () => definitionOf(id) });
  }
  const pipelines: LocalPipeline[] = [];
  for (const id of machineIds) {
    const definition = definitionOf(id);
    if (!definition.States?.[STATES.PAUSE]) continue;
    // The pipeline's construct path: from the path metadata (cdk synth writes it), else from the logical ID, which CDK
    // makes of the path without separators and a hash (NightlyStateMachineF28BA435 for Nightly/StateMachine).
    const cdkPath: string | undefined = resources[id].Metadata?.['aws:cdk:path'];
    const base = cdkPath?.endsWith('/StateMachine/Resource') ? cdkPath.slice(0, -'/StateMachine/Resource'.length) : undefined;
    const prefix = /^(.+)StateMachine[0-9A-F]{8}$/.exec(id)?.[1];
    const cleanupId = machineIds.find((m) =>
      base ? resources[m].Metadata?.['aws:cdk:path'] === `${base}/CleanupStateMachine/Resource` : prefix && new RegExp(`^${prefix}CleanupStateMachine[0-9A-F]{8}$`).test(m),
    );
    pipelines.push({
      name: (base ? base.split('/').slice(1).join('/') : prefix) || id,
      logicalId: id,
      definition,
      machines,
      cleanup: cleanupId ? definitionOf(cleanupId) : undefined,
    });
  }
  return pipelines;
}

/** The pipeline `wanted` names (its name or logical ID), or the only one. */
export function pickPipeline(pipelines: LocalPipeline[], wanted: string | undefined, file: string): LocalPipeline {
  const list = pipelines.map((p) => `${p.name} (${p.logicalId})`).join(', ');
  if (pipelines.length === 0) throw new UsageError(`--template: ${file} holds no ShellScriptPipeline (no state machine with a '${STATES.PAUSE}' state)`);
  if (wanted === undefined) {
    if (pipelines.length === 1) return pipelines[0];
    throw new UsageError(`${file} holds ${pipelines.length} pipelines; pick one with --pipeline <name>: ${list}`);
  }
  const found = pipelines.find((p) => p.name === wanted || p.logicalId === wanted);
  if (!found) throw new UsageError(`--pipeline: no pipeline '${wanted}' in ${file}; it holds ${list}`);
  return found;
}

/** The ARN the local run uses for the state machine `logicalId`. */
export function stateMachineArn(logicalId: string): string {
  return `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:${logicalId}`;
}

function resolvedDefinition(json: any, logicalId: string): any {
  const props = json.Resources[logicalId].Properties ?? {};
  let text = String(resolve(props.DefinitionString, json));
  // CloudFormation replaces ${Key} with each DefinitionSubstitutions value after resolving it (AWS::StepFunctions::StateMachine,
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-stepfunctions-statemachine.html#cfn-stepfunctions-statemachine-definitionsubstitutions).
  for (const [key, substitution] of Object.entries<any>(props.DefinitionSubstitutions ?? {})) {
    text = text.split(`\${${key}}`).join(String(resolve(substitution, json)));
  }
  return JSON.parse(text);
}

/**
 * Resolves CloudFormation intrinsics to local stand-ins, the way a deployment would resolve them to real values:
 * a bucket's Ref is a bucket name, a state machine's an ARN, a parameter its default, AWS::Region the local Region.
 */
export function resolve(value: any, json: any): any {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => resolve(v, json));
  const keys = Object.keys(value);
  if (keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::'))) {
    const [k] = keys;
    const v = value[k];
    switch (k) {
      case 'Ref':
        return ref(v, json);
      case 'Fn::GetAtt':
        return getAtt(...((typeof v === 'string' ? v.split('.') : v) as [string, string]));
      case 'Fn::Join':
        return (resolve(v[1], json) as any[]).map(String).join(v[0]);
      case 'Fn::Base64':
        return Buffer.from(String(resolve(v, json))).toString('base64');
      case 'Fn::Select':
        return resolve(v[1], json)[Number(resolve(v[0], json))];
      case 'Fn::Split':
        return String(resolve(v[1], json)).split(v[0]);
      case 'Fn::Sub': {
        const [text, vars] = typeof v === 'string' ? [v, {}] : [v[0], v[1] ?? {}];
        return String(text).replace(/\$\{([^}!]+)\}/g, (_m, name: string) => {
          if (name in vars) return String(resolve(vars[name], json));
          return name.includes('.') ? getAtt(...(name.split('.') as [string, string])) : String(ref(name, json));
        });
      }
      case 'Fn::ImportValue':
        return `imported-${String(resolve(v, json))}`;
      case 'Fn::If':
        throw new UsageError('the template uses Fn::If (a condition); the local runner cannot decide conditions');
    }
  }
  const out: Record<string, any> = {};
  for (const k of keys) out[k] = resolve(value[k], json);
  return out;
}

function ref(name: string, json: any): string {
  switch (name) {
    case 'AWS::Partition':
      return 'aws';
    case 'AWS::Region':
      return LOCAL_REGION;
    case 'AWS::AccountId':
      return LOCAL_ACCOUNT;
    case 'AWS::URLSuffix':
      return 'amazonaws.com';
    case 'AWS::StackName':
      return 'local-stack';
    case 'AWS::NoValue':
      return '';
  }
  const parameter = json.Parameters?.[name];
  if (parameter) {
    if (String(parameter.Type).startsWith('AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>')) return 'ami-00000000000local';
    if (parameter.Default !== undefined) return String(parameter.Default);
    throw new UsageError(`the template's parameter ${name} has no default; the local runner cannot make up a value for it`);
  }
  const type: string | undefined = json.Resources?.[name]?.Type;
  switch (type) {
    case 'AWS::S3::Bucket':
      return `local-${name.toLowerCase()}`;
    case 'AWS::StepFunctions::StateMachine':
      return stateMachineArn(name);
    case 'AWS::StepFunctions::Activity':
      return `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:activity:${name}`;
    case 'AWS::SNS::Topic':
      return `arn:aws:sns:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${name}`;
    case 'AWS::EC2::Subnet':
      return `subnet-${name}`;
    case 'AWS::EC2::SecurityGroup':
      return `sg-${name}`;
    default:
      return name;
  }
}

function getAtt(name: string, attr: string): string {
  if (attr === 'RoleId') return LOCAL_ROLE_ID;
  if (attr === 'Arn') return `arn:aws:local:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${name}`;
  return `${name}.${attr}`;
}

/**
 * The local file of the asset behind an `s3://<asset bucket>/<object key>` URL, from the cloud assembly next to the
 * template (`<Stack>.assets.json`, which `cdk synth` writes beside `<Stack>.template.json`).
 */
export function assetFile(templateFile: string, url: string): string | undefined {
  const dir = path.dirname(templateFile);
  const key = url.replace(/^s3:\/\/[^/]+\//, '');
  for (const manifest of fs.readdirSync(dir).filter((f) => f.endsWith('.assets.json'))) {
    const files = JSON.parse(fs.readFileSync(path.join(dir, manifest), 'utf8')).files ?? {};
    for (const asset of Object.values<any>(files)) {
      if (Object.values<any>(asset.destinations ?? {}).some((d) => d.objectKey === key)) {
        const file = path.join(dir, asset.source.path);
        if (fs.existsSync(file)) return file;
      }
    }
  }
  return undefined;
}
