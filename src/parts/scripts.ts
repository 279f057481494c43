import * as fs from 'fs';
import * as path from 'path';
import { Aspects, IAspect, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Construct, IConstruct } from 'constructs';
import { acknowledge, nagText, wildcardAction, wildcardResource } from '../nag';
import type { ShellScriptPipelineProps } from '../shell-script-pipeline-props';
import { overlapProblem, userPrefixProblem } from './job-bucket';

/** The props this part owns, and `staging` (whose output prefix must keep out of the scripts). */
export type ScriptsProps = Pick<ShellScriptPipelineProps, 'scriptsPath' | 'scriptsPrefix' | 'staging'>;

const DEFAULT_PREFIX = 'scripts/';

/**
 * Scripts that ship with the stack: `scriptsPath` is uploaded into the job bucket under `scriptsPrefix` at deploy time
 * by aws-cdk-lib's BucketDeployment, which never prunes or deletes what it did not put there.
 */
export class Scripts {
  /** What is wrong with these props, each naming the prop, the value and the fix. Values that are tokens are not checked. */
  public static problems(props: ScriptsProps): string[] {
    const problems = [props.scriptsPrefix === undefined ? undefined : userPrefixProblem('scriptsPrefix', props.scriptsPrefix)];
    // Checked here, before CDK's asset sees it, so the message names the prop (CDK's own says only "Cannot find asset").
    problems.push(scriptsPathProblem(props.scriptsPath));
    // Runs write staged outputs; where scripts ship (scriptsPath, or an explicit scriptsPrefix) they must not.
    const output = props.staging?.outputPrefix;
    if (output !== undefined && (props.scriptsPath !== undefined || props.scriptsPrefix !== undefined)) {
      problems.push(overlapProblem(['staging.outputPrefix', output], ['scriptsPrefix', props.scriptsPrefix ?? DEFAULT_PREFIX]));
    }
    return problems.filter((p): p is string => p !== undefined);
  }

  /** The deployment that uploads `scriptsPath`; only with `scriptsPath`. */
  public readonly deployment?: s3deploy.BucketDeployment;

  constructor(pipeline: Construct, props: ScriptsProps, bucket: s3.IBucket) {
    if (props.scriptsPath === undefined) return;
    this.deployment = new s3deploy.BucketDeployment(pipeline, 'Scripts', {
      sources: [s3deploy.Source.asset(props.scriptsPath)],
      destinationBucket: bucket,
      destinationKeyPrefix: props.scriptsPrefix ?? DEFAULT_PREFIX,
      // Other scripts in the bucket are the user's: never delete what this deployment did not put there.
      prune: false,
      retainOnDelete: true,
    });
    // Who else uses the deployment handler is only known once the app is complete.
    Aspects.of(this.deployment).add(new AcknowledgeDeploymentHandler(this.deployment, bucket));
  }
}

/** What is wrong with `scriptsPath`: it must be a folder (or a .zip file, which Source.asset also takes) that exists at synth. */
function scriptsPathProblem(scriptsPath: string | undefined): string | undefined {
  if (scriptsPath === undefined || Token.isUnresolved(scriptsPath)) return undefined;
  const resolved = path.resolve(scriptsPath);
  const where = resolved === scriptsPath ? `'${scriptsPath}'` : `'${scriptsPath}' (${resolved}, from ${process.cwd()})`;
  if (!fs.existsSync(resolved)) return `'scriptsPath' must be a folder of scripts that exists at synth, but ${where} does not exist`;
  if (!fs.statSync(resolved).isDirectory() && !resolved.endsWith('.zip')) {
    return `'scriptsPath' must be a folder of scripts (or a .zip file), but ${where} is a file`;
  }
  return undefined;
}

/**
 * BucketDeployment's handler is a stack-wide singleton Lambda function that aws-cdk-lib writes and maintains, shared by
 * every BucketDeployment of the stack with the same settings. Its findings are acknowledged for what it does for this
 * pipeline, and only those:
 * - the finding that names this pipeline's job bucket, always;
 * - its generic findings (runtime, managed policy, CDK's action groups, the asset bucket) only when this pipeline's
 *   deployment is the only one using that handler. Another deployment of the user's makes them the user's to judge,
 *   so they stay visible.
 * Runs as an aspect, at synthesis, when every deployment of the app exists.
 */
class AcknowledgeDeploymentHandler implements IAspect {
  private done = false;

  constructor(private readonly deployment: s3deploy.BucketDeployment, private readonly bucket: s3.IBucket) {}

  public visit(node: IConstruct): void {
    if (node !== this.deployment || this.done) return;
    this.done = true;
    const role = this.deployment.handlerRole;
    const why = 'aws-cdk-lib BucketDeployment handler (CDK-maintained) that copies scriptsPath into the job bucket at deploy time';
    acknowledge(role.node.tryFindChild('DefaultPolicy') ?? role, {
      id: wildcardResource(role, this.bucket.arnForObjects('*')),
      reason: `${why}; it writes the scripts under scriptsPrefix in the job bucket.`,
    });

    // The singleton function owns the role CDK made for it; a role of the user's means a handler the user configured.
    const handler = role.node.scope;
    const stack = Stack.of(this.deployment);
    const sharing = stack.node.findAll().filter((c) => c instanceof s3deploy.BucketDeployment && c !== this.deployment && c.handlerRole === role);
    if (!(handler instanceof lambda.Function) || sharing.length > 0) return;
    const assetBuckets = this.deployment.node
      .findAll()
      .filter((c): c is s3assets.Asset => c instanceof s3assets.Asset)
      .map((asset) => stack.formatArn({ service: 's3', region: '', account: '', resource: asset.s3BucketName, resourceName: '*' }));
    acknowledge(
      handler,
      { id: 'AwsSolutions-L1', reason: `${why}; its runtime is chosen and updated by aws-cdk-lib, not by this library.` },
      {
        id: `AwsSolutions-IAM4[Policy::${nagText(handler, iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaBasicExecutionRole').managedPolicyArn)}]`,
        reason: `${why}; the managed policy only lets it write its own CloudWatch logs.`,
      },
      ...['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:DeleteObject*', 's3:Abort*'].map((action) => ({
        id: wildcardAction(action),
        reason: `${why}; CDK grants it read on the asset and read/write on the destination bucket with these action groups.`,
      })),
      ...assetBuckets.map((arn) => ({
        id: wildcardResource(handler, arn),
        reason: `${why}; it reads the zipped scripts from the CDK asset bucket (the stack synthesizer's file asset bucket), whose object key is a content hash.`,
      })),
    );
  }
}
