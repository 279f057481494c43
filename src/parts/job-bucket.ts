import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge } from '../nag';
import { RESERVED_PREFIX, RUNS_PREFIX, TASKS_PREFIX } from '../protocol';
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

/** A prefix without leading or trailing '/'. */
export function trimSlashes(prefix: string): string {
  return prefix.replace(/^\/+|\/+$/g, '');
}
