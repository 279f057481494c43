/**
 * The ShellScriptPipeline construct as a whole: what it never creates, its public members and methods, the IAM it adds
 * up to, two pipelines side by side, and the props checked together before anything is built. Each part's own props
 * are tested in test/parts, the state machines in test/workflow.
 */
import { Duration, Size, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { ShellScriptPipeline } from '../src';
import { allStatements, expectNoWildcardResource } from './support/policies';
import { cfn, expectRejected, rejectionOf, synth, Synthesized, testStack, value } from './support/template';

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

  test('no policy statement has Resource "*" except X-Ray and CloudWatch Logs delivery', () => {
    expectNoWildcardResource(s);
    // The same holds with an existing VPC with private subnets.
    expectNoWildcardResource(synth({}, (stack) => ({ vpc: new ec2.Vpc(stack, 'UserVpc', { maxAzs: 2, natGateways: 1 }) })));
    // The exceptions are really there (and so really exercised by the check above).
    const wildcard = allStatements(s).filter((st) => st.Resource.includes('*'));
    expect(wildcard.flatMap((st) => st.Action)).toEqual(expect.arrayContaining(['xray:PutTraceSegments', 'logs:CreateLogDelivery']));
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
      ['AWS::EC2::SecurityGroup', 'GroupName'],
    ];
    for (const [type, prop] of named) {
      for (const r of Object.values<any>(json.Resources).filter((x) => x.Type === type)) {
        // Step Functions log groups are named under /aws/vendedlogs/states/ (test/fixtures/aws/cwl-resource-policy-size.json),
        // each after its construct path: distinct for every pipeline, checked below.
        if (type === 'AWS::Logs::LogGroup' && String(r.Properties?.[prop]).startsWith('/aws/vendedlogs/states/')) continue;
        expect(r.Properties?.[prop]).toBeUndefined();
      }
    }
    const vended = Object.values<any>(json.Resources)
      .map((r) => r.Properties?.LogGroupName)
      .filter((n) => typeof n === 'string' && n.startsWith('/aws/vendedlogs/states/'));
    expect(new Set(vended).size).toBe(vended.length);
    // Each pipeline's state machine logs to /aws/vendedlogs/states/<pipelineId> (workflow/state-machine.ts).
    for (const p of [a, b]) expect(vended).toContain(`/aws/vendedlogs/states/${p.pipelineId}`);
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
      /\n {2}- the default 'heartbeatTimeout', 5 minutes, must be shorter than 'jobTimeout' \(1 minute\)/,
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

describe('metrics', () => {
  test.each<[string, 'metricFailed' | 'metricSucceeded' | 'metricTimedOut' | 'metricAborted']>([
    ['ExecutionsFailed', 'metricFailed'],
    ['ExecutionsSucceeded', 'metricSucceeded'],
    ['ExecutionsTimedOut', 'metricTimedOut'],
    ['ExecutionsAborted', 'metricAborted'],
  ])('%s: %s(), summed over 5 minutes, for this state machine', (name, method) => {
    const s = synth();
    const metric = s.pipeline[method]();
    expect(metric.namespace).toBe('AWS/States');
    expect(metric.metricName).toBe(name);
    expect(metric.statistic).toBe('Sum');
    expect(metric.period.toSeconds()).toBe(300);
    expect(cfn(s, metric.dimensions)).toEqual({ StateMachineArn: cfn(s, s.pipeline.stateMachine.stateMachineArn) });
    // Options pass through.
    expect(s.pipeline[method]({ period: Duration.hours(1) }).period.toSeconds()).toBe(3600);
  });
});
