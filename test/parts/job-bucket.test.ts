/**
 * parts/job-bucket: the job bucket, bucketRemovalPolicy and runArtifactsRetention, and the rule for the prefixes the
 * construct reads or writes for the user.
 */
import { Duration, Lazy, RemovalPolicy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { JobBucket, trimSlashes, userPrefixProblem } from '../../src/parts/job-bucket';
import { cfn, expectRejected, resourcesOfType, synth, Synthesized } from '../support/template';

describe('checks', () => {
  test('accept the default and 1 day, the shortest retention', () => {
    expect(JobBucket.problems({})).toEqual([]);
    expect(JobBucket.problems({ runArtifactsRetention: Duration.days(1) })).toEqual([]);
  });

  test.each([0, 1.5])('fail when runArtifactsRetention is %s days', (days) => {
    expect(JobBucket.problems({ runArtifactsRetention: Duration.hours(days * 24) }).join('\n')).toMatch(
      new RegExp(`'runArtifactsRetention' must be a whole number of days of at least 1, got ${days}`),
    );
  });

  test('do not check values that are tokens', () => {
    expect(JobBucket.problems({ runArtifactsRetention: Duration.days(Lazy.number({ produce: () => 0 })) })).toEqual([]);
  });

  test('the construct fails when runArtifactsRetention is 0 days', () => {
    expectRejected({ runArtifactsRetention: Duration.days(0) }, /'runArtifactsRetention' must be a whole number of days of at least 1, got 0/);
  });

  test('the construct fails when runArtifactsRetention is not a whole number of days', () => {
    expectRejected({ runArtifactsRetention: Duration.hours(36) }, /'runArtifactsRetention' must be a whole number of days of at least 1, got 1\.5/);
  });
});

describe('prefixes the construct reads or writes for the user', () => {
  test.each(['in/', '/results/', 'pipelines/', 'a/pipeline/b'])('%s is fine', (prefix) => {
    expect(userPrefixProblem('staging.outputPrefix', prefix)).toBeUndefined();
  });

  test.each(['', '/', 'pipeline', 'pipeline/', '/pipeline/x', 'a/../b'])('%p is refused, naming the prop and the value', (prefix) => {
    expect(userPrefixProblem('scriptsPrefix', prefix)).toBe(
      `'scriptsPrefix' must be a prefix of the job bucket outside 'pipeline/' (the pipeline's own) and without '..', got '${prefix}'`,
    );
  });

  test('a token is not checked', () => {
    expect(userPrefixProblem('scriptsPrefix', Lazy.string({ produce: () => 'pipeline/' }))).toBeUndefined();
  });

  test('trimSlashes removes leading and trailing slashes only', () => {
    expect(trimSlashes('//in/a/b//')).toBe('in/a/b');
  });
});

describe('with default props', () => {
  let s: Synthesized;
  let template: Template;
  beforeAll(() => {
    s = synth();
    template = s.template;
  });

  test('is encrypted with SSE-S3', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
    });
  });

  test('blocks all public access', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    });
  });

  test('has a bucket policy that denies requests without TLS', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  test("keeps task tokens for the instance role: no other principal reads them, nobody retags them (the simulator's view: test/security)", () => {
    const tokens = [cfn(s, s.pipeline.bucket.arnForObjects('pipeline/tasks/*')), cfn(s, s.pipeline.bucket.arnForObjects('pipeline/handoff/*'))];
    const role = s.pipeline.instanceRole;
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'TaskTokensOnlyForJobInstances',
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: ['s3:GetObject', 's3:GetObjectVersion'],
            Resource: tokens,
            Condition: {
              ArnNotLike: {
                'aws:PrincipalArn': [
                  cfn(s, role.roleArn),
                  { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':sts::111111111111:assumed-role/', cfn(s, role.roleName), '/*']] },
                ],
              },
            },
          },
          {
            Sid: 'TaskTokenOwnersStayPut',
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: ['s3:PutObjectTagging', 's3:PutObjectVersionTagging', 's3:DeleteObjectTagging', 's3:DeleteObjectVersionTagging'],
            Resource: tokens,
            Condition: { Null: { 's3:ExistingObjectTag/ssp-owner': 'false' } },
          },
        ]),
      },
    });
    // Writing is never denied there: the state machine writes the task documents.
    const statements: any[] = resourcesOfType(s, 'AWS::S3::BucketPolicy')[0].Properties.PolicyDocument.Statement;
    expect(statements.filter((st) => [st.Action].flat().includes('s3:PutObject'))).toEqual([]);
  });

  test('expires task documents after 1 day and run artifacts after 90 days', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: 'pipeline/tasks/', ExpirationInDays: 1, Status: 'Enabled' }),
          Match.objectLike({ Prefix: 'pipeline/runs/', ExpirationInDays: 90, Status: 'Enabled' }),
        ]),
      },
    });
  });

  test('never expires user scripts: every expiring rule is limited to pipeline/', () => {
    const rules: any[] = resourcesOfType(s, 'AWS::S3::Bucket')[0].Properties.LifecycleConfiguration.Rules;
    const expiring = rules.filter((r) => r.ExpirationInDays !== undefined || r.ExpirationDate !== undefined);
    expect(expiring.length).toBeGreaterThan(0);
    for (const rule of expiring) {
      expect(rule.Prefix ?? rule.Filter?.Prefix).toMatch(/^pipeline\/./);
    }
  });

  test('is retained when the stack is deleted', () => {
    template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });
});

describe('with runArtifactsRetention and bucketRemovalPolicy', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth({ runArtifactsRetention: Duration.days(30), bucketRemovalPolicy: RemovalPolicy.DESTROY });
  });

  test('runArtifactsRetention sets the expiry of pipeline/runs/ only', () => {
    s.template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: 'pipeline/tasks/', ExpirationInDays: 1 }),
          Match.objectLike({ Prefix: 'pipeline/runs/', ExpirationInDays: 30 }),
        ]),
      },
    });
  });

  test('bucketRemovalPolicy sets the bucket deletion policy', () => {
    s.template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Delete' });
    // Still nothing long-lived or hidden: no auto-delete Lambda, no instance.
    s.template.resourceCountIs('AWS::Lambda::Function', 0);
    s.template.resourceCountIs('AWS::EC2::Instance', 0);
    s.template.resourceCountIs('AWS::EC2::KeyPair', 0);
  });
});
