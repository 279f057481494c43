import { Match } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { cfn, resolveIntrinsics, Synthesized, TEST_ENV } from './template';

/** A policy statement with Action and Resource always lists. */
export interface Statement {
  readonly Effect: string;
  readonly Action: string[];
  readonly Resource: string[];
  readonly Condition?: any;
  readonly Sid?: string;
}

function normalize(s: any): Statement {
  return { ...s, Action: ([] as string[]).concat(s.Action ?? []), Resource: ([] as string[]).concat(s.Resource ?? []) };
}

/** Every statement of the identity policies attached to `role`, as in the template (Action and Resource as lists). */
export function templateStatementsOf(s: Synthesized, role: iam.IRole): Statement[] {
  const policies = s.template.findResources('AWS::IAM::Policy', { Properties: { Roles: Match.arrayWith([cfn(s, role.roleName)]) } });
  return Object.values<any>(policies)
    .flatMap((p) => p.Properties.PolicyDocument.Statement)
    .map(normalize);
}

/** Every statement of the identity policies attached to `role`, with intrinsics resolved to stand-ins. */
export function roleStatements(s: Synthesized, role: iam.IRole): Statement[] {
  return resolveIntrinsics(templateStatementsOf(s, role), s.json.Resources).map(normalize);
}

/** Every statement of every policy document in the template (identity, inline, bucket, topic and queue policies), resolved. */
export function allStatements(s: Synthesized): Statement[] {
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

/** The resources of every Allow statement on `role` that grants `action`, resolved, sorted. */
export function resourcesAllowed(s: Synthesized, role: iam.IRole, action: string): string[] {
  return roleStatements(s, role)
    .filter((st) => st.Effect === 'Allow' && st.Action.includes(action))
    .flatMap((st) => st.Resource)
    .sort();
}

export const hasAction = (st: Statement, action: string) => st.Action.some((a) => a.toLowerCase() === action.toLowerCase());

/** An Allow statement with an action that starts with `prefix`. */
export const allows = (st: Statement, prefix: string) => st.Effect === 'Allow' && st.Action.some((a) => a.startsWith(prefix));

/** An EC2 ARN in the test account and region, e.g. `ec2Arn('instance/*')`. */
export function ec2Arn(resource: string): string {
  return `arn:aws:ec2:${TEST_ENV.region}:${TEST_ENV.account}:${resource}`;
}

/**
 * Actions AWS offers no resource-level permission for: the ones CDK grants on `*` for tracing and log delivery,
 * and ec2:DescribeInstances (the cleanup finds leftover instances by tag).
 */
export const ALLOWED_ON_ANY_RESOURCE = [
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

/** Expects no policy statement with Resource "*" except for ALLOWED_ON_ANY_RESOURCE. */
export function expectNoWildcardResource(s: Synthesized): void {
  const offending = allStatements(s).filter(
    (st) => st.Resource.includes('*') && !st.Action.every((a) => ALLOWED_ON_ANY_RESOURCE.some((ok) => ok.toLowerCase() === a.toLowerCase())),
  );
  expect(offending).toEqual([]);
}
