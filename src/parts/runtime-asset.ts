import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';

/** The runtime bundle this package ships (built by `npx projen bundle` from src/runtime). */
const RUNTIME_BUNDLE = path.join(__dirname, '..', '..', 'assets', 'runtime', 'cli', 'heartbeat.js');

/**
 * The heartbeat runtime: the single JavaScript file this package ships (assets/runtime/cli/heartbeat.js, bundled from
 * src/runtime), uploaded as a CDK asset. The instance role may read that one object, not the whole asset bucket, and
 * the bootstrap runs it only if its sha256 is the one computed here, at synth time, from the very file uploaded:
 * whoever can write the asset bucket must not get root on every instance.
 */
export class RuntimeAsset {
  public readonly asset: s3assets.Asset;
  /** sha256 of the runtime bundle, in hex. */
  public readonly sha256: string;

  constructor(pipeline: Construct, instanceRole: iam.IRole) {
    this.sha256 = crypto.createHash('sha256').update(fs.readFileSync(RUNTIME_BUNDLE)).digest('hex');
    this.asset = new s3assets.Asset(pipeline, 'HeartbeatRuntime', { path: RUNTIME_BUNDLE });
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
