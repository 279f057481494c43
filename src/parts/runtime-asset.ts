import * as path from 'path';
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';

/**
 * The heartbeat runtime: the single JavaScript file this package ships (assets/runtime/cli/heartbeat.js, bundled from
 * src/runtime), uploaded as a CDK asset. The instance role may read that one object, not the whole asset bucket.
 */
export class RuntimeAsset {
  public readonly asset: s3assets.Asset;

  constructor(pipeline: Construct, instanceRole: iam.IRole) {
    this.asset = new s3assets.Asset(pipeline, 'HeartbeatRuntime', {
      path: path.join(__dirname, '..', '..', 'assets', 'runtime', 'cli', 'heartbeat.js'),
    });
    instanceRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadHeartbeatRuntime',
        actions: ['s3:GetObject'],
        resources: [Stack.of(pipeline).formatArn({ service: 's3', region: '', account: '', resource: this.asset.s3BucketName, resourceName: this.asset.s3ObjectKey })],
      }),
    );
  }

  /** `s3://` URL of the runtime, for the bootstrap. */
  public get url(): string {
    return this.asset.s3ObjectUrl;
  }
}
