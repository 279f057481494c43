/**
 * IAM decisions for tests, made by @cloud-copilot/iam-simulate: it validates each action, resource ARN and
 * context key against AWS's service authorization reference (its iam-data package) and evaluates identity and
 * resource policies with every condition operator and policy variable.
 *
 * The simulator does not invent request context: the caller supplies keys such as `aws:userid` and
 * `s3:ExistingObjectTag/<key>`, as the service would put them in the request. `instanceRolePolicies` below
 * builds that context for an instance of the synthesized pipeline.
 */
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { resolveIntrinsics, TEST_ENV } from './template';

export interface IamRequest {
  /** The caller's ARN, e.g. `arn:aws:sts::111111111111:assumed-role/<RoleName>/<InstanceId>`. */
  readonly principal: string;
  readonly action: string;
  readonly resource: string;
  /**
   * Request context keys, e.g. { 'aws:userid': 'AROA...:i-1', 's3:ExistingObjectTag/ssp-owner': '...' }.
   * An undefined value means the key is absent from the request (an object without that tag).
   */
  readonly context: Record<string, string | undefined>;
  /** The resource's own policy (a bucket policy), if it has one. */
  readonly resourcePolicy?: any;
}

/** The simulator's overall result. */
export type Decision = 'Allowed' | 'ImplicitlyDenied' | 'ExplicitlyDenied';

/**
 * Step Functions evaluates the task-token callbacks against the state machine (or activity) that issued the
 * token: a refused call names `...:stateMachine:<name>` as its resource
 * (https://github.com/NOAA-OWP/hydrovis/issues/837); a grant on the state machine ARN works for a callback
 * task and one on the activity ARN for an activity task (https://github.com/aws/aws-cdk/pull/8486, review
 * thread on grantTaskResponse). That is why
 * aws-cdk-lib's `grantTaskResponse` grants on the state machine ARN. The service authorization reference,
 * and so iam-data, lists these actions with no resource type, so the simulator rejects that ARN
 * ("must.use.wildcard") and calls a state-machine-scoped grant a non-match for "*". Its answer would be wrong
 * either way, so this helper refuses to give one.
 */
export const CALLBACK_ACTIONS_THE_SIMULATOR_MISREADS = ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'];

/**
 * Decides `req` for a principal whose identity policy is `statements` (one policy document), the way AWS
 * would within one account: an explicit Deny in either policy wins, else an Allow in either, else an implicit
 * deny. Throws when the simulator rejects the input (an unknown action, an ARN of the wrong resource type, a
 * malformed policy) or drops a context key that does not apply to the action, so a typo cannot pass silently.
 */
export async function evaluate(statements: any[], req: IamRequest): Promise<Decision> {
  if (CALLBACK_ACTIONS_THE_SIMULATOR_MISREADS.some((a) => a.toLowerCase() === req.action.toLowerCase())) {
    throw new Error(`${req.action}: the simulator's data treats it as wildcard-only, AWS does not (see CALLBACK_ACTIONS_THE_SIMULATOR_MISREADS)`);
  }
  if (/^arn:[^:]+:sts::\d{12}:assumed-role\//.test(req.principal) && req.context['aws:userid'] === undefined) {
    // A role session always has aws:userid. Without it the simulator cannot resolve ${aws:userid}, and a
    // statement that uses it stops matching: a Deny would then fail open.
    throw new Error(`${req.principal} is a role session: supply its aws:userid`);
  }
  const contextVariables: Record<string, string> = {};
  for (const [key, value] of Object.entries(req.context)) if (value !== undefined) contextVariables[key] = value;

  const result = await runSimulation(
    {
      request: {
        principal: req.principal,
        action: req.action,
        resource: { resource: req.resource, accountId: TEST_ENV.account },
        contextVariables,
      },
      identityPolicies: [{ name: 'identity', policy: { Version: '2012-10-17', Statement: statements } }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: req.resourcePolicy,
    },
    {},
  );
  if (result.resultType === 'error') {
    throw new Error(`the simulator rejected ${req.action} on ${req.resource}: ${JSON.stringify(result.errors)}`);
  }
  if (result.resultType !== 'single') {
    throw new Error(`${req.resource} holds a wildcard: evaluate one concrete resource at a time`);
  }
  const ignored = result.result.ignoredContextKeys ?? [];
  if (ignored.length > 0) {
    throw new Error(`${req.action} on ${req.resource} does not take context key(s) ${ignored.join(', ')}`);
  }
  return result.overallResult;
}

/** The instance role of a synthesized pipeline, with the job bucket and its policy. */
export interface InstanceRolePolicies {
  /** The statements of the instance role's policy, intrinsics resolved as a deployment would. */
  readonly statements: any[];
  /** The bucket policy of the job bucket, intrinsics resolved. */
  readonly bucketPolicy: any;
  readonly bucketArn: string;
  readonly roleArn: string;
  /** The role's unique ID (what `Fn::GetAtt RoleId` resolves to in these tests). */
  readonly roleId: string;
  /** The caller an instance's SDK presents: its role session ARN and request context. */
  session(instanceId: string): InstanceSession;
}

export interface InstanceSession {
  readonly principal: string;
  /** `<RoleId>:<InstanceId>`. */
  readonly userid: string;
  /** The context every request of this session carries. */
  readonly context: Record<string, string>;
}

/** Finds the instance role's policy, the job bucket and its policy in a synthesized template. */
export function instanceRolePolicies(json: any): InstanceRolePolicies {
  const resources: Record<string, any> = json.Resources;
  const one = (what: string, pick: (r: any) => boolean): [string, any] => {
    const found = Object.entries(resources).filter(([, r]) => pick(r));
    if (found.length !== 1) throw new Error(`expected one ${what}, found ${found.length}`);
    return found[0];
  };
  const [roleId] = one('instance role', (r) => r.Type === 'AWS::IAM::Role' && JSON.stringify(r.Properties.AssumeRolePolicyDocument).includes('ec2.amazonaws.com'));
  const [, policy] = one('instance role policy', (r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles) === JSON.stringify([{ Ref: roleId }]));
  const [bucketId] = one('job bucket', (r) => r.Type === 'AWS::S3::Bucket');
  const [, bucketPolicy] = one('job bucket policy', (r) => r.Type === 'AWS::S3::BucketPolicy' && r.Properties.Bucket?.Ref === bucketId);
  const roleArn: string = resolveIntrinsics({ 'Fn::GetAtt': [roleId, 'Arn'] }, resources);
  const uniqueId: string = resolveIntrinsics({ 'Fn::GetAtt': [roleId, 'RoleId'] }, resources);
  const roleName = roleArn.split('/').pop()!;
  return {
    statements: resolveIntrinsics(policy.Properties.PolicyDocument.Statement, resources),
    bucketPolicy: resolveIntrinsics(bucketPolicy.Properties.PolicyDocument, resources),
    bucketArn: resolveIntrinsics({ 'Fn::GetAtt': [bucketId, 'Arn'] }, resources),
    roleArn,
    roleId: uniqueId,
    session: (instanceId) => ({
      // An instance profile's credentials are a session of the role named after the instance, and its
      // aws:userid is "role-id:ec2-instance-id"
      // (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html#principaltable).
      principal: `arn:aws:sts::${TEST_ENV.account}:assumed-role/${roleName}/${instanceId}`,
      userid: `${uniqueId}:${instanceId}`,
      // The runtime's SDK calls S3 over HTTPS (the bucket policy denies anything else).
      context: { 'aws:userid': `${uniqueId}:${instanceId}`, 'aws:SecureTransport': 'true' },
    }),
  };
}
