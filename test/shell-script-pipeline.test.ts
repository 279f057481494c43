/**
 * The ShellScriptPipeline construct: every default and every override of its props, read from the synthesized template.
 */
import { Duration, RemovalPolicy, Size, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { ShellScriptPipeline } from '../src';
import { definitionOf, expectRejected, rejectionOf, resolveIntrinsics, synth, Synthesized, TEST_ENV, testStack } from './support/template';

// ---- helpers ---------------------------------------------------------------------------------------

interface Statement {
  readonly Effect: string;
  readonly Action: string[];
  readonly Resource: string[];
  readonly Condition?: any;
  readonly Sid?: string;
}

function normalize(s: any): Statement {
  return { ...s, Action: ([] as string[]).concat(s.Action ?? []), Resource: ([] as string[]).concat(s.Resource ?? []) };
}

/** A construct attribute (token) as the test helpers resolve it, e.g. `arn:aws:s3:::ref-<LogicalId>`. */
function value(s: Synthesized, token: any): any {
  return resolveIntrinsics(s.stack.resolve(token), s.json.Resources);
}

/** Every statement of the identity policies attached to `role`, with intrinsics resolved. */
function roleStatements(s: Synthesized, role: iam.IRole): Statement[] {
  const ref = JSON.stringify(s.stack.resolve(role.roleName));
  const out: Statement[] = [];
  for (const r of Object.values<any>(s.json.Resources)) {
    if (r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles ?? []).some((x: any) => JSON.stringify(x) === ref)) {
      out.push(...r.Properties.PolicyDocument.Statement);
    }
  }
  return resolveIntrinsics(out, s.json.Resources).map(normalize);
}

/** Every statement of every policy document in the template (identity, inline, bucket and topic policies). */
function allStatements(s: Synthesized): Statement[] {
  const docs: any[] = [];
  for (const r of Object.values<any>(s.json.Resources)) {
    const p = r.Properties ?? {};
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') docs.push(p.PolicyDocument);
    if (r.Type === 'AWS::IAM::Role') docs.push(...(p.Policies ?? []).map((x: any) => x.PolicyDocument));
    if (r.Type === 'AWS::S3::BucketPolicy' || r.Type === 'AWS::SNS::TopicPolicy' || r.Type === 'AWS::SQS::QueuePolicy') docs.push(p.PolicyDocument);
  }
  return resolveIntrinsics(
    docs.flatMap((d) => d.Statement),
    s.json.Resources,
  ).map(normalize);
}

const hasAction = (st: Statement, action: string) => st.Action.some((a) => a.toLowerCase() === action.toLowerCase());

/** Logical ID of the run state machine (`pipeline.stateMachine`), not of any other state machine in the stack. */
function runMachineId(s: Synthesized): string {
  return s.stack.resolve(s.pipeline.stateMachine.stateMachineArn).Ref;
}

/** The run state machine's definition as the service would see it. */
function runDefinitionOf(s: Synthesized): any {
  return definitionOf(s.json, (id) => id === runMachineId(s));
}

function launchParameters(s: Synthesized): any {
  return runDefinitionOf(s).States['Launch instance'].Parameters;
}

/**
 * The subnet IDs 'Launch instance' launches in, first choice first: the literal SubnetId, or the list it picks from
 * (`States.ArrayGetItem($.<list>, ...)`, filled in by the state whose ResultPath is `$.<list>`).
 */
function launchSubnets(s: Synthesized): string[] {
  const def = runDefinitionOf(s);
  const ni = def.States['Launch instance'].Parameters.NetworkInterfaces[0];
  if (typeof ni.SubnetId === 'string') return [ni.SubnetId];
  const m = /^States\.ArrayGetItem\(\$\.(\w+),/.exec(ni['SubnetId.$'] ?? '');
  if (!m) throw new Error(`cannot tell the subnets of 'Launch instance' from ${JSON.stringify(ni)}`);
  const source = Object.values<any>(def.States).filter((st) => st.ResultPath === `$.${m[1]}` && Array.isArray(st.Result));
  if (source.length !== 1) throw new Error(`expected one state to set $.${m[1]}, found ${source.length}`);
  return source[0].Result;
}

function pauseState(s: Synthesized): any {
  return runDefinitionOf(s).States['Pause for Job Completion'];
}

function resourcesOfType(s: Synthesized, type: string): any[] {
  return Object.values<any>(s.json.Resources).filter((r) => r.Type === type);
}

function ec2Arn(resource: string): string {
  return `arn:aws:ec2:${TEST_ENV.region}:${TEST_ENV.account}:${resource}`;
}

/**
 * Actions AWS offers no resource-level permission for: the ones CDK grants on `*` for tracing and log delivery,
 * and ec2:DescribeInstances (the cleanup finds leftover instances by tag).
 */
const ALLOWED_ON_ANY_RESOURCE = [
  'ec2:DescribeInstances',
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  'xray:GetSamplingRules',
  'xray:GetSamplingTargets',
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
];

function expectNoWildcardResource(s: Synthesized): void {
  const offending = allStatements(s).filter(
    (st) => st.Resource.includes('*') && !st.Action.every((a) => ALLOWED_ON_ANY_RESOURCE.some((ok) => ok.toLowerCase() === a.toLowerCase())),
  );
  expect(offending).toEqual([]);
}

// ---- defaults --------------------------------------------------------------------------------------

describe('with default props', () => {
  let s: Synthesized;
  let template: Template;
  beforeAll(() => {
    s = synth();
    template = s.template;
  });

  test('creates no key pair, no EC2 instance and no Lambda function', () => {
    template.resourceCountIs('AWS::EC2::KeyPair', 0);
    template.resourceCountIs('AWS::EC2::Instance', 0);
    template.resourceCountIs('AWS::Lambda::Function', 0);
  });

  describe('state machine role', () => {
    let statements: Statement[];
    let bucketArn: string;
    beforeAll(() => {
      statements = roleStatements(s, s.pipeline.stateMachine.role);
      bucketArn = value(s, s.pipeline.bucket.bucketArn);
    });

    test('may terminate only instances tagged with the pipeline ID (in every policy of the stack)', () => {
      expect(statements.some((st) => hasAction(st, 'ec2:TerminateInstances'))).toBe(true);
      const terminate = allStatements(s).filter((st) => hasAction(st, 'ec2:TerminateInstances'));
      expect(terminate.length).toBeGreaterThan(0);
      for (const st of terminate) {
        expect(st).toEqual(
          expect.objectContaining({
            Effect: 'Allow',
            Resource: [ec2Arn('instance/*')],
            Condition: { StringEquals: { 'aws:ResourceTag/shell-script-pipeline:pipeline': s.pipeline.pipelineId } },
          }),
        );
      }
    });
  });

  test('no policy statement has Resource "*" except X-Ray and CloudWatch Logs delivery', () => {
    expectNoWildcardResource(s);
    // The same holds with an existing VPC with private subnets.
    expectNoWildcardResource(synth({}, (stack) => ({ vpc: new ec2.Vpc(stack, 'UserVpc', { maxAzs: 2, natGateways: 1 }) })));
    // The exceptions are really there (and so really exercised by the check above).
    const wildcard = allStatements(s).filter((st) => st.Resource.includes('*'));
    expect(wildcard.flatMap((st) => st.Action)).toEqual(expect.arrayContaining(['xray:PutTraceSegments', 'logs:CreateLogDelivery']));
  });

  describe('state machine', () => {
    test('is a STANDARD state machine with tracing and ALL-level logging without execution data', () => {
      const machine = s.json.Resources[runMachineId(s)];
      expect(machine.Type).toBe('AWS::StepFunctions::StateMachine');
      expect(machine.Properties).toEqual(
        expect.objectContaining({
          StateMachineType: 'STANDARD',
          TracingConfiguration: { Enabled: true },
          LoggingConfiguration: expect.objectContaining({ Level: 'ALL', IncludeExecutionData: false }),
        }),
      );
    });
  });

  test('exposes its resources as public members', () => {
    const p = s.pipeline;
    expect(p.vpc).toBeInstanceOf(ec2.Vpc);
    expect(p.securityGroup).toBeInstanceOf(ec2.SecurityGroup);
    expect(p.bucket).toBeInstanceOf(s3.Bucket);
    expect(p.topic).toBeInstanceOf(sns.Topic);
    expect(p.instanceRole).toBeInstanceOf(iam.Role);
    expect(p.stateMachine).toBeInstanceOf(sfn.StateMachine);
    expect(p.pipelineId).toMatch(/^TestStack-[0-9A-Fa-f]{8}$/);
    // They are the resources the template holds, not copies.
    expect(value(s, p.stateMachine.stateMachineArn)).toMatch(/^arn:aws:states:/);
    expect(s.json.Resources[s.stack.resolve(p.bucket.bucketName).Ref].Type).toBe('AWS::S3::Bucket');
    expect(s.json.Resources[s.stack.resolve(p.topic.topicArn).Ref].Type).toBe('AWS::SNS::Topic');
    expect(s.json.Resources[s.stack.resolve(p.vpc.vpcId).Ref].Type).toBe('AWS::EC2::VPC');
  });
});

// ---- methods and multiple pipelines -------------------------------------------------------------------

test('grantStartExecution grants states:StartExecution on the state machine', () => {
  const stack = testStack();
  const pipeline = new ShellScriptPipeline(stack, 'Nightly');
  const starter = new iam.Role(stack, 'Starter', { assumedBy: new iam.AccountRootPrincipal() });
  const grant = pipeline.grantStartExecution(starter);
  expect(grant.success).toBe(true);
  Template.fromStack(stack).hasResourceProperties('AWS::IAM::Policy', {
    Roles: [stack.resolve(starter.roleName)],
    PolicyDocument: {
      Statement: Match.arrayWith([
        Match.objectLike({ Effect: 'Allow', Action: 'states:StartExecution', Resource: stack.resolve(pipeline.stateMachine.stateMachineArn) }),
      ]),
    },
  });
});

describe('two pipelines in one stack', () => {
  let stack: Stack;
  let a: ShellScriptPipeline;
  let b: ShellScriptPipeline;
  let template: Template;
  beforeAll(() => {
    stack = testStack();
    a = new ShellScriptPipeline(stack, 'A');
    b = new ShellScriptPipeline(stack, 'B');
    template = Template.fromStack(stack);
  });

  test('synthesize side by side', () => {
    const machineIds = [a, b].map((p) => stack.resolve(p.stateMachine.stateMachineArn).Ref);
    expect(machineIds[0]).not.toBe(machineIds[1]);
    for (const id of machineIds) expect(template.toJSON().Resources[id].Type).toBe('AWS::StepFunctions::StateMachine');
    template.resourceCountIs('AWS::S3::Bucket', 2);
    template.resourceCountIs('AWS::EC2::VPC', 2);
  });

  test('set no physical names that could clash', () => {
    const json = template.toJSON();
    const named: Array<[string, string]> = [
      ['AWS::S3::Bucket', 'BucketName'],
      ['AWS::StepFunctions::StateMachine', 'StateMachineName'],
      ['AWS::IAM::Role', 'RoleName'],
      ['AWS::IAM::InstanceProfile', 'InstanceProfileName'],
      ['AWS::SNS::Topic', 'TopicName'],
      ['AWS::Logs::LogGroup', 'LogGroupName'],
      ['AWS::EC2::SecurityGroup', 'GroupName'],
    ];
    for (const [type, prop] of named) {
      for (const r of Object.values<any>(json.Resources).filter((x) => x.Type === type)) {
        expect(r.Properties?.[prop]).toBeUndefined();
      }
    }
  });

  test('get different pipeline IDs, each used in its own IAM conditions', () => {
    expect(a.pipelineId).not.toBe(b.pipelineId);
    for (const p of [a, b]) {
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [stack.resolve(p.stateMachine.role.roleName)],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Action: 'ec2:TerminateInstances',
              Condition: { StringEquals: { 'aws:ResourceTag/shell-script-pipeline:pipeline': p.pipelineId } },
            }),
          ]),
        },
      });
    }
  });
});

// ---- the props are checked together, before anything is built --------------------------------------------------

describe('checks of the props', () => {
  const windows = () => ec2.MachineImage.latestWindows(ec2.WindowsVersion.WINDOWS_SERVER_2022_ENGLISH_FULL_BASE);

  test('prefix the message with the construct ID', () => {
    expect(rejectionOf({ machineImage: windows() })).toMatch(/^ShellScriptPipeline 'Nightly': /);
  });

  test('list several problems in one error, one per line', () => {
    const message = rejectionOf((stack) => ({
      jobTimeout: Duration.minutes(1),
      vpc: new ec2.Vpc(stack, 'UserVpc'),
      vpcCidr: 'banana',
      notificationEmail: 'a@b',
      rootVolumeSize: Size.gibibytes(0),
      runArtifactsRetention: Duration.days(0),
      machineImage: windows(),
    }));
    expect(message).toBeDefined();
    const lines = message!.split('\n');
    expect(lines[0]).toBe("ShellScriptPipeline 'Nightly': ");
    const problems = lines.slice(1);
    expect(problems.every((l) => l.startsWith('  - '))).toBe(true);
    for (const prop of ["'heartbeatTimeout'", "'vpcCidr' (for a new VPC)", "'vpcCidr' must be", "'notificationEmail'", "'rootVolumeSize'", "'runArtifactsRetention'", "'machineImage'"]) {
      expect(problems.filter((l) => l.includes(prop))).toHaveLength(1);
    }
    expect(problems).toHaveLength(7);
  });

  test('list several problems at once in one error, through the construct', () => {
    expectRejected(
      {
        jobTimeout: Duration.minutes(1),
        vpcCidr: 'banana',
        notificationEmail: 'not-an-email',
        rootVolumeSize: Size.gibibytes(0),
        runArtifactsRetention: Duration.days(0),
        vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      },
      /\n {2}- 'heartbeatTimeout'/,
      /\n {2}- 'vpcSubnets'/,
      /\n {2}- 'vpcCidr'/,
      /\n {2}- 'notificationEmail'/,
      /\n {2}- 'rootVolumeSize'/,
      /\n {2}- 'runArtifactsRetention'/,
    );
  });

  test('a problem with a new prop is listed with the others, one per line', () => {
    const message = rejectionOf({
      maxAttempts: 0,
      spot: { maxPrice: 'cheap' },
      schedule: { expression: scheduler.ScheduleExpression.rate(Duration.days(1)), input: {} },
      scriptsPrefix: 'pipeline/',
    });
    const problems = message!.split('\n').slice(1);
    expect(problems).toHaveLength(4);
    for (const prop of ["'maxAttempts'", "'spot.maxPrice'", "'schedule.input'", "'scriptsPrefix'"]) {
      expect(problems.filter((l) => l.startsWith(`  - ${prop}`))).toHaveLength(1);
    }
  });
});
