/**
 * buildLogForwarder (src/parts/log-forwarder.ts): the function, its role and its log group as CloudFormation sees them,
 * what its policy allows (evaluated by the IAM simulator), and cdk-nag.
 */
import * as fs from 'fs';
import * as path from 'path';
import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { LOG_FORWARDER_ASSET_DIR, buildLogForwarder } from '../../src/parts/log-forwarder';
import { evaluate } from '../support/iam';
import { TEST_ENV, resolveIntrinsics } from '../support/template';

function synth(options?: Parameters<typeof buildLogForwarder>[3]) {
  const stack = new Stack(new App(), 'TestStack', { env: TEST_ENV });
  const bucket = new s3.Bucket(stack, 'JobBucket', { enforceSSL: true });
  const jobLogs = new logs.LogGroup(stack, 'JobLogs', { logGroupName: '/ssp/job-logs', removalPolicy: RemovalPolicy.RETAIN });
  const fn = buildLogForwarder(stack, bucket, jobLogs, options);
  const template = Template.fromStack(stack);
  return { stack, bucket, jobLogs, fn, template, json: template.toJSON() };
}

const { stack, fn, template, json } = synth();
const id = (type: string, prefix: string) => {
  const ids = Object.keys(template.findResources(type)).filter((k) => k.startsWith(prefix));
  expect(ids).toHaveLength(1);
  return ids[0];
};
const bucketId = id('AWS::S3::Bucket', 'JobBucket');
const jobLogsId = id('AWS::Logs::LogGroup', 'JobLogs');
const ownLogsId = id('AWS::Logs::LogGroup', 'LogForwarderLogs');
const roleId = id('AWS::IAM::Role', 'LogForwarderRole');

test('the asset is the bundle: index.js in assets/log-forwarder/index (npx projen bundle)', () => {
  expect(path.relative(path.join(__dirname, '..', '..'), LOG_FORWARDER_ASSET_DIR)).toBe(path.join('assets', 'log-forwarder', 'index'));
  expect(fs.existsSync(path.join(LOG_FORWARDER_ASSET_DIR, 'index.js'))).toBe(true);
});

test('the function: Node.js 24 on arm64, 256 MB, 1 minute, index.handler, told its bucket and log group', () => {
  expect(fn).toBeInstanceOf(lambda.Function);
  expect(fn.node.path).toBe('TestStack/LogForwarder/Function');
  template.resourceCountIs('AWS::Lambda::Function', 1);
  template.hasResourceProperties('AWS::Lambda::Function', {
    Runtime: 'nodejs24.x',
    Architectures: ['arm64'],
    MemorySize: 256,
    Timeout: 60,
    Handler: 'index.handler',
    Role: { 'Fn::GetAtt': [roleId, 'Arn'] },
    LoggingConfig: { LogGroup: { Ref: ownLogsId } },
    Environment: {
      Variables: Match.objectEquals({
        SSP_LOG_FORWARDER_BUCKET: { Ref: bucketId },
        SSP_LOG_FORWARDER_LOG_GROUP: { Ref: jobLogsId },
      }),
    },
  });
});

test('its own log group has a retention (three months unless told otherwise)', () => {
  template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90, LogGroupName: Match.absent() });
  expect(synth({ functionLogRetention: logs.RetentionDays.TWO_WEEKS }).template.findResources('AWS::Logs::LogGroup', {
    Properties: { RetentionInDays: 14 },
  })).not.toEqual({});
});

test('the role: only Lambda may assume it, no managed policy, and one policy with exactly these grants', () => {
  template.hasResourceProperties('AWS::IAM::Role', {
    AssumeRolePolicyDocument: {
      Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } }],
    },
    ManagedPolicyArns: Match.absent(),
    Policies: Match.absent(),
  });
  template.resourceCountIs('AWS::IAM::Policy', 1);
  template.hasResourceProperties('AWS::IAM::Policy', {
    Roles: [{ Ref: roleId }],
    PolicyDocument: Match.objectEquals({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'ReadRunLogs',
          Effect: 'Allow',
          Action: 's3:GetObject',
          Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/pipeline/runs/*']] },
        },
        {
          Sid: 'WriteJobLogStreams',
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: { 'Fn::GetAtt': [jobLogsId, 'Arn'] },
        },
        {
          Sid: 'WriteOwnLogs',
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: { 'Fn::GetAtt': [ownLogsId, 'Arn'] },
        },
      ],
    }),
  });
});

test('the function is created after its role and policy', () => {
  const [resource] = Object.values(template.findResources('AWS::Lambda::Function'));
  expect(resource.DependsOn).toEqual(expect.arrayContaining([roleId, id('AWS::IAM::Policy', 'LogForwarderRoleDefaultPolicy')]));
});

describe('what the policy allows, evaluated by the IAM simulator', () => {
  // A log group's Arn attribute is arn:...:log-group:<name>:* (AWS::Logs::LogGroup return values).
  const logGroupArn = (name: string) => `arn:aws:logs:${TEST_ENV.region}:${TEST_ENV.account}:log-group:${name}:*`;
  const [policy] = Object.values<any>(template.findResources('AWS::IAM::Policy'));
  const statements = resolveIntrinsics(
    JSON.parse(JSON.stringify(policy.Properties.PolicyDocument.Statement)
      .split(JSON.stringify({ 'Fn::GetAtt': [jobLogsId, 'Arn'] })).join(JSON.stringify(logGroupArn('/ssp/job-logs')))
      .split(JSON.stringify({ 'Fn::GetAtt': [ownLogsId, 'Arn'] })).join(JSON.stringify(logGroupArn('forwarder-logs')))),
    json.Resources,
  );
  const bucketArn = resolveIntrinsics({ 'Fn::GetAtt': [bucketId, 'Arn'] }, json.Resources);
  const session = {
    principal: `arn:aws:sts::${TEST_ENV.account}:assumed-role/${roleId}/TestStack-LogForwarderFunction`,
    context: { 'aws:userid': 'AROAFORWARDER:TestStack-LogForwarderFunction' },
  };
  const decide = (action: string, resource: string) => evaluate(statements, { ...session, action, resource });
  const stream = (group: string, name: string) => `arn:aws:logs:${TEST_ENV.region}:${TEST_ENV.account}:log-group:${group}:log-stream:${name}`;

  test('reads run logs, and nothing else in the bucket', async () => {
    expect(await decide('s3:GetObject', `${bucketArn}/pipeline/runs/nightly/AROA:i-1/output.log`)).toBe('Allowed');
    expect(await decide('s3:GetObject', `${bucketArn}/scripts/nightly.sh`)).toBe('ImplicitlyDenied');
    expect(await decide('s3:GetObject', `${bucketArn}/pipeline/tasks/i-1.json`)).toBe('ImplicitlyDenied');
    expect(await decide('s3:PutObject', `${bucketArn}/pipeline/runs/nightly/AROA:i-1/output.log`)).toBe('ImplicitlyDenied');
    expect(await decide('s3:GetObject', 'arn:aws:s3:::another-bucket/pipeline/runs/x/y/output.log')).toBe('ImplicitlyDenied');
  });

  test('creates and writes streams of the job log group (and its own), of no other group', async () => {
    for (const action of ['logs:CreateLogStream', 'logs:PutLogEvents']) {
      expect(await decide(action, stream('/ssp/job-logs', 'nightly/i-1'))).toBe('Allowed');
      expect(await decide(action, stream('forwarder-logs', '2026/12/01/[$LATEST]abc'))).toBe('Allowed');
      expect(await decide(action, stream('/other/group', 'nightly/i-1'))).toBe('ImplicitlyDenied');
    }
    expect(await decide('logs:DeleteLogStream', stream('/ssp/job-logs', 'nightly/i-1'))).toBe('ImplicitlyDenied');
    expect(await decide('logs:CreateLogGroup', `arn:aws:logs:${TEST_ENV.region}:${TEST_ENV.account}:log-group:/ssp/new`)).toBe('ImplicitlyDenied');
  });
});

test('cdk-nag AwsSolutions: no finding is left on the forwarder, and the one acknowledged says why', () => {
  const result = new AwsSolutionsChecks(undefined, { verbose: false }).validateScope(stack);
  const onForwarder = result.violations.filter((v: any) => v.violatingResources.some((r: any) => r.constructPath.startsWith('TestStack/LogForwarder/')));
  expect(onForwarder).toEqual([]);
  const policy = stack.node.findChild('LogForwarder').node.findChild('Role').node.findChild('DefaultPolicy');
  const acknowledged = policy.node.metadata.map((m) => m.data);
  expect(JSON.stringify(acknowledged)).toContain(`AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/pipeline/runs/*]`);
  expect(JSON.stringify(acknowledged)).toMatch(/whose names are not known when the policy is written/);
});
