import { Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge } from '../nag';
import { HANDOFF_PREFIX, OWNER_TAG, RESERVED_PREFIX, RUNS_PREFIX, TASKS_PREFIX } from '../protocol';
import type { ShellScriptPipelineProps } from '../shell-script-pipeline-props';

/** The props this part owns. */
export type JobBucketProps = Pick<ShellScriptPipelineProps, 'bucketRemovalPolicy' | 'runArtifactsRetention'>;

/**
 * The job bucket: private, Block Public Access, SSE-S3, bucket-owner-enforced, TLS only, retained on stack delete.
 * `pipeline/` is the pipeline's own prefix; its objects expire (task documents after a day, run logs after
 * `runArtifactsRetention`), the user's scripts never do.
 */
export class JobBucket {
  /** What is wrong with these props, each naming the prop, the value and the fix. Values that are tokens are not checked. */
  public static problems(props: JobBucketProps): string[] {
    const retention = props.runArtifactsRetention;
    const days = retention === undefined || retention.isUnresolved() ? undefined : retention.toDays({ integral: false });
    if (days !== undefined && !Token.isUnresolved(days) && (!Number.isInteger(days) || days < 1)) {
      return [`'runArtifactsRetention' must be a whole number of days of at least 1, got ${days}`];
    }
    return [];
  }

  public readonly bucket: s3.Bucket;

  /**
   * @param extraRules lifecycle rules other parts need for what they leave under `pipeline/`; they come right after the
   * task documents' rule
   */
  constructor(pipeline: Construct, props: JobBucketProps, extraRules: s3.LifecycleRule[] = []) {
    this.bucket = new s3.Bucket(pipeline, 'JobBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: false,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: props.bucketRemovalPolicy ?? RemovalPolicy.RETAIN,
      lifecycleRules: [
        { id: 'ExpireTaskDocuments', prefix: TASKS_PREFIX, expiration: Duration.days(1) },
        ...extraRules,
        { id: 'ExpireRunArtifacts', prefix: RUNS_PREFIX, expiration: props.runArtifactsRetention ?? Duration.days(90) },
        { id: 'AbortIncompleteUploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
    });
    acknowledge(this.bucket, {
      id: 'AwsSolutions-S1',
      reason:
        'Server access logs need a second bucket that would in turn need its own; who reads and writes the job bucket is recorded by ' +
        'CloudTrail, and the pipeline writes its own run logs under pipeline/runs/.',
    });
  }

  /**
   * Task documents (`pipeline/tasks/`) and hand-overs (`pipeline/handoff/`) hold task tokens: whoever reads one can
   * answer that execution's task. The bucket policy keeps them out of every principal's reach but `instanceRole`'s
   * (whose own policy narrows each instance to the object tagged with its `aws:userid`), so a broad grant such as
   * `bucket.grantRead(someRole)` never reaches a token; and it keeps their owner tags as written, so nobody can
   * retag another instance's object to read it. Writing them is not denied: the state machine writes task documents.
   */
  public reserveTaskTokens(instanceRole: iam.IRole): void {
    const tokens = [this.bucket.arnForObjects(`${TASKS_PREFIX}*`), this.bucket.arnForObjects(`${HANDOFF_PREFIX}*`)];
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'TaskTokensOnlyForJobInstances',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:GetObject', 's3:GetObjectVersion'],
        resources: tokens,
        // "For IAM roles, the request context returns the ARN of the role, not the ARN of the user that assumed the
        // role" (IAM User Guide, global condition keys, aws:PrincipalArn:
        // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn).
        // The role's session ARNs are excepted too, so the instances keep their reads even if a request carried the
        // session ARN instead. An anonymous request has no aws:PrincipalArn, and a negated operator matches a missing key.
        conditions: { ArnNotLike: { 'aws:PrincipalArn': [instanceRole.roleArn, roleSessionArns(this.bucket, instanceRole)] } },
      }),
    );
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'TaskTokenOwnersStayPut',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObjectTagging', 's3:PutObjectVersionTagging', 's3:DeleteObjectTagging', 's3:DeleteObjectVersionTagging'],
        resources: tokens,
        // Null false = the object already has an owner tag. The Service Authorization Reference lists
        // s3:ExistingObjectTag/<key> for these actions (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html);
        // a new object (PutObject with Tagging) has no existing tag, so writing one stays possible.
        conditions: { Null: { [`s3:ExistingObjectTag/${OWNER_TAG}`]: 'false' } },
      }),
    );
  }
}

/**
 * The ARNs of `role`'s sessions: `arn:<partition>:sts::<account>:assumed-role/<role name>/*` (an assumed-role ARN
 * names the role without its path: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns).
 */
function roleSessionArns(scope: Construct, role: iam.IRole): string {
  return Stack.of(scope).formatArn({ service: 'sts', region: '', resource: 'assumed-role', resourceName: `${role.roleName}/*` });
}

/**
 * The problem with a prefix of the job bucket that the construct reads or writes for the user (staging, scripts):
 * it must not be empty, under the pipeline's own `pipeline/`, or climb out with '..'. A token is not checked.
 */
export function userPrefixProblem(prop: string, prefix: string): string | undefined {
  if (Token.isUnresolved(prefix)) return undefined;
  const bare = trimSlashes(prefix);
  if (bare === '' || `${bare}/` === RESERVED_PREFIX || bare.startsWith(RESERVED_PREFIX) || bare.includes('..')) {
    return `'${prop}' must be a prefix of the job bucket outside '${RESERVED_PREFIX}' (the pipeline's own) and without '..', got '${prefix}'`;
  }
  return undefined;
}

/**
 * The problem with two prefixes of the job bucket that overlap: the same folder, or one inside the other (compared
 * folder by folder, so `out` and `output` do not overlap). `written` is a prefix runs write to; the message names both
 * props and values. A token is not checked.
 */
export function overlapProblem(written: [prop: string, prefix: string], other: [prop: string, prefix: string]): string | undefined {
  const [writtenProp, writtenPrefix] = written;
  const [otherProp, otherPrefix] = other;
  if (Token.isUnresolved(writtenPrefix) || Token.isUnresolved(otherPrefix)) return undefined;
  const a = `${trimSlashes(writtenPrefix)}/`;
  const b = `${trimSlashes(otherPrefix)}/`;
  if (!a.startsWith(b) && !b.startsWith(a)) return undefined;
  const how = a === b ? 'is the same folder as' : a.startsWith(b) ? 'is inside' : 'contains';
  return (
    `'${writtenProp}' ('${writtenPrefix}') ${how} '${otherProp}' ('${otherPrefix}'): every run may write under '${writtenProp}', ` +
    `so it must not overlap '${otherProp}'; choose folders where neither is inside the other`
  );
}

/** A prefix without leading or trailing '/'. */
export function trimSlashes(prefix: string): string {
  return prefix.replace(/^\/+|\/+$/g, '');
}
