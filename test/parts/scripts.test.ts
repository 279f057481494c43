/**
 * parts/scripts: scriptsPath and scriptsPrefix. The deployment, its check, and the cdk-nag acknowledgements on
 * aws-cdk-lib's shared BucketDeployment handler: only for what the handler does for this pipeline.
 */
import * as path from 'path';
import { App, CfnElement, Lazy, Stack } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { ShellScriptPipeline } from '../../src';
import { Scripts } from '../../src/parts/scripts';
import { nag, readable } from '../support/nag';
import { cfn, expectRejected, lazySynth, synth, TEST_ENV } from '../support/template';

const SCRIPTS = path.join(__dirname, '..', 'fixtures', 'scripts');

const defaults = lazySynth({});

describe('checks', () => {
  test('accept a prefix outside pipeline/', () => {
    expect(Scripts.problems({ scriptsPrefix: 'pipelines/' })).toEqual([]);
  });

  test('do not check values that are tokens', () => {
    expect(Scripts.problems({ scriptsPrefix: Lazy.string({ produce: () => 'pipeline/' }) })).toEqual([]);
  });

  test('the construct fails when the scriptsPath folder does not exist, naming the prop and the path', () => {
    const missing = path.join(SCRIPTS, 'no-such-folder');
    expectRejected({ scriptsPath: missing }, new RegExp(`'scriptsPath' must be a folder of scripts that exists at synth, but '${missing}' does not exist`));
  });

  test('a relative scriptsPath that does not exist is shown resolved, with the directory it was resolved from', () => {
    expect(Scripts.problems({ scriptsPath: 'no-such-scripts' })).toEqual([
      `'scriptsPath' must be a folder of scripts that exists at synth, but 'no-such-scripts' (${path.resolve('no-such-scripts')}, from ${process.cwd()}) does not exist`,
    ]);
  });

  test('the construct fails when scriptsPath is a file that is not a .zip', () => {
    const file = path.join(SCRIPTS, 'hello.sh');
    expect(Scripts.problems({ scriptsPath: file })).toEqual([`'scriptsPath' must be a folder of scripts (or a .zip file), but '${file}' is a file`]);
  });

  test("the construct fails when scriptsPrefix is 'pipeline/'", () => {
    expectRejected({ scriptsPrefix: 'pipeline/' }, /'scriptsPrefix' must be a prefix of the job bucket outside 'pipeline\/'.*got 'pipeline\/'/);
  });

  test('the construct fails when the staging output prefix is the scripts prefix, naming both', () => {
    expectRejected(
      { scriptsPrefix: 'jobs/', staging: { outputPrefix: '/jobs' } },
      /'staging\.outputPrefix' \('\/jobs'\) is the same folder as 'scriptsPrefix' \('jobs\/'\): every run may write under 'staging\.outputPrefix', so it must not overlap 'scriptsPrefix'/,
    );
  });

  test("the construct fails when scriptsPath ships to the default 'scripts/' and the output prefix is inside or around it", () => {
    expectRejected({ scriptsPath: SCRIPTS, staging: { outputPrefix: 'scripts/out' } }, /'staging\.outputPrefix' \('scripts\/out'\) is inside 'scriptsPrefix' \('scripts\/'\)/);
    expect(Scripts.problems({ scriptsPrefix: 'tools/nightly/', staging: { outputPrefix: 'tools' } })).toEqual([
      "'staging.outputPrefix' ('tools') contains 'scriptsPrefix' ('tools/nightly/'): every run may write under 'staging.outputPrefix', so it must not " +
        'overlap \'scriptsPrefix\'; choose folders where neither is inside the other',
    ]);
  });

  test('an output prefix beside the scripts is fine, and without scriptsPath or scriptsPrefix there is nothing to compare', () => {
    expect(Scripts.problems({ scriptsPath: SCRIPTS, staging: { outputPrefix: 'scripts-out/' } })).toEqual([]);
    expect(Scripts.problems({ staging: { outputPrefix: 'scripts/' } })).toEqual([]);
  });
});

describe('scriptsPath', () => {
  test("uploads the folder under 'scripts/', never pruning or deleting what is in the bucket", () => {
    const s = synth({ scriptsPath: SCRIPTS });
    expect(s.pipeline.scriptsDeployment).toBeDefined();
    s.template.resourceCountIs('Custom::CDKBucketDeployment', 1);
    s.template.hasResourceProperties('Custom::CDKBucketDeployment', {
      DestinationBucketName: cfn(s, s.pipeline.bucket.bucketName),
      DestinationBucketKeyPrefix: 'scripts/',
      Prune: false,
      RetainOnDelete: true,
    });
  });

  test('scriptsPrefix chooses where it goes', () => {
    const s = synth({ scriptsPath: SCRIPTS, scriptsPrefix: 'tools/nightly/' });
    s.template.hasResourceProperties('Custom::CDKBucketDeployment', {
      DestinationBucketName: cfn(s, s.pipeline.bucket.bucketName),
      DestinationBucketKeyPrefix: 'tools/nightly/',
      Prune: false,
      RetainOnDelete: true,
    });
  });

  test('default: nothing is uploaded', () => {
    defaults().template.resourceCountIs('Custom::CDKBucketDeployment', 0);
    expect(defaults().pipeline.scriptsDeployment).toBeUndefined();
  });
});

describe("cdk-nag on the BucketDeployment handler, a singleton the stack's deployments share", () => {
  /** A stack with a pipeline that ships scripts, and whatever else `more` adds. */
  function stackWith(more: (stack: Stack) => void = () => undefined, env: { account: string; region: string } | undefined = TEST_ENV): Stack {
    const stack = new Stack(new App(), 'NagStack', { env });
    new ShellScriptPipeline(stack, 'Nightly', { scriptsPath: SCRIPTS });
    more(stack);
    return stack;
  }
  const handlerFindings = (stack: Stack) => readable(nag(stack)).filter((f) => f.includes('/Custom::CDKBucketDeployment'));

  test('the only deployment using the handler: its findings are all acknowledged (account and region known)', () => {
    expect(readable(nag(stackWith()))).toEqual([]);
  });

  test('the only deployment using the handler: its findings are all acknowledged (environment-agnostic stack)', () => {
    expect(readable(nag(stackWith(undefined, undefined)))).toEqual([]);
  });

  test("a user's own deployment shares the handler: its generic findings show, only the one naming the job bucket is acknowledged", () => {
    let site!: s3.Bucket;
    const stack = stackWith((s) => {
      site = new s3.Bucket(s, 'Site', { enforceSSL: true, serverAccessLogsPrefix: 'logs/' });
      new s3deploy.BucketDeployment(s, 'SiteFiles', { sources: [s3deploy.Source.asset(SCRIPTS)], destinationBucket: site });
    });
    const findings = handlerFindings(stack);
    const siteId = stack.getLogicalId(site.node.defaultChild as CfnElement);
    // The user's deployment is the user's to judge: the runtime, the managed policy, CDK's action groups, the asset bucket...
    for (const rule of [
      /^AwsSolutions-L1 at /,
      /^AwsSolutions-IAM4\[Policy::arn:<AWS::Partition>:iam::aws:policy\/service-role\/AWSLambdaBasicExecutionRole\] at /,
      /^AwsSolutions-IAM5\[Action::s3:List\*\] at /,
      /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-111111111111-eu-west-1\/\*\] at /,
      new RegExp(`^AwsSolutions-IAM5\\[Resource::<${siteId}\\.Arn>/\\*\\] at `),
    ]) {
      expect({ rule: rule.source, found: findings.some((f) => rule.test(f)) }).toEqual({ rule: rule.source, found: true });
    }
    // ...but the finding for this pipeline's own job bucket stays acknowledged.
    expect(findings.filter((f) => f.includes('NightlyJobBucket'))).toEqual([]);
    // And nothing of the pipeline's own is reported.
    expect(readable(nag(stack)).filter((f) => f.includes('NagStack/Nightly/'))).toEqual([]);
  });

  test("a user's deployment with its own handler (other settings) leaves the pipeline's handler fully acknowledged", () => {
    const stack = stackWith((s) => {
      const site = new s3.Bucket(s, 'Site', { enforceSSL: true, serverAccessLogsPrefix: 'logs/' });
      new s3deploy.BucketDeployment(s, 'SiteFiles', { sources: [s3deploy.Source.asset(SCRIPTS)], destinationBucket: site, memoryLimit: 512 });
    });
    const findings = handlerFindings(stack);
    expect(findings.length).toBeGreaterThan(0);
    // Every finding is on the user's handler (512 MiB), none on the pipeline's.
    const pipelineHandler = stack.node.children.find((c) => c.node.id.startsWith('Custom::CDKBucketDeployment') && !c.node.id.includes('512'));
    expect(pipelineHandler).toBeDefined();
    expect(findings.filter((f) => f.includes(`/${pipelineHandler!.node.id}/`))).toEqual([]);
  });
});
