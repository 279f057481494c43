import { ArnFormat, Stack, Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { acknowledge, NagAcknowledgement, wildcardResource } from '../nag';
import { INSTANCE_TAGS, OWNER_TAG, RESERVED_PREFIX, RUNS_PREFIX } from '../protocol';
import type { ShellScriptPipelineProps } from '../shell-script-pipeline-props';
import { Network } from './network';
import { LaunchSpec, LaunchValues } from '../workflow/launch';

/**
 * Spot settings for job instances.
 */
export interface SpotOptions {
  /**
   * Highest price per instance-hour, in USD (Data Pipeline's `spotBidPrice`).
   *
   * @default - the On-Demand price
   */
  readonly maxPrice?: string;

  /**
   * Launch the last attempt On-Demand (Data Pipeline's `useOnDemandOnLastAttempt`). Only matters with `maxAttempts` > 1.
   *
   * @default true
   */
  readonly onDemandOnLastAttempt?: boolean;
}

/** The props this part owns. */
export type InstanceProps = Pick<ShellScriptPipelineProps, 'instanceType' | 'machineImage' | 'rootDeviceName' | 'rootVolumeSize' | 'spot' | 'volumeKey'>;

/** What the instance needs from the rest of the pipeline. */
export interface InstanceContext {
  /** The image, resolved once by `Instance.imageOf`. */
  readonly image: ec2.MachineImageConfig;
  readonly bucket: s3.IBucket;
  readonly network: Network;
  /** The value of the pipeline tag every instance carries. */
  readonly pipelineId: string;
  /** Attempts per run: with Spot, the last one may go On-Demand. */
  readonly maxAttempts: number;
}

/** EBS's largest gp3 volume, in GiB (https://docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html). */
const MAX_ROOT_VOLUME_GIB = 16_384;

/**
 * The job instance: its role and instance profile (read the job bucket, read only its own pipeline/ objects, write only
 * its own run folder), and how it is launched (image, type, IMDSv2, encrypted gp3 root volume, shutdown = terminate,
 * the pipeline's tags, Spot) with the IAM RunInstances needs for it.
 */
export class Instance {
  /** The image jobs run on: `machineImage`, else the latest Amazon Linux 2023 for the instance type's architecture. */
  public static imageOf(pipeline: Construct, props: InstanceProps): ec2.MachineImageConfig {
    const machineImage =
      props.machineImage ??
      ec2.MachineImage.latestAmazonLinux2023({
        cpuType:
          instanceTypeOf(props).architecture === ec2.InstanceArchitecture.ARM_64 ? ec2.AmazonLinuxCpuType.ARM_64 : ec2.AmazonLinuxCpuType.X86_64,
      });
    return machineImage.getImage(pipeline);
  }

  /** What is wrong with these props, each naming the prop, the value and the fix. Values that are tokens are not checked. */
  public static problems(props: InstanceProps, image: ec2.MachineImageConfig): string[] {
    const problems: string[] = [];
    // A size from a token (a CloudFormation parameter) cannot be converted at synth time, so it is not checked.
    const size = props.rootVolumeSize;
    const mib = size === undefined || size.isUnresolved() ? undefined : size.toMebibytes();
    const gib = mib === undefined ? undefined : mib / 1024;
    if (mib !== undefined && gib !== undefined && (!Number.isInteger(gib) || gib < 1 || gib > MAX_ROOT_VOLUME_GIB)) {
      // EBS sizes volumes in whole GiB; a size given in MiB is shown as given and in GiB, so the fix is obvious.
      const got = Number.isInteger(gib) ? `${gib} GiB` : `${mib} MiB (${Number(gib.toFixed(2))} GiB)`;
      problems.push(`'rootVolumeSize' must be a whole number of GiB from 1 GiB to ${MAX_ROOT_VOLUME_GIB} GiB, got ${got}`);
    }
    const maxPrice = props.spot?.maxPrice;
    if (maxPrice !== undefined && !Token.isUnresolved(maxPrice) && !/^\d+(\.\d+)?$/.test(maxPrice)) {
      problems.push(`'spot.maxPrice' must be a price in USD per hour like '0.05', got '${maxPrice}'`);
    }
    if (image.osType !== ec2.OperatingSystemType.LINUX) {
      problems.push("'machineImage' must be a Linux image: the bootstrap is a bash script");
    }
    // A policy on an alias ARN applies to the alias, not to its key
    // (https://docs.aws.amazon.com/kms/latest/developerguide/alias-authorization.html), so the launch could not use it.
    if (props.volumeKey !== undefined && 'aliasName' in props.volumeKey) {
      problems.push("'volumeKey' must be a key (kms.Key, or Key.fromKeyArn), not an alias: IAM grants on an alias ARN do not let EC2 use its key");
    }
    return problems;
  }

  /** The role the job instances run as. */
  public readonly role: iam.Role;
  public readonly profile: iam.InstanceProfile;
  /** How the workflow launches an instance. */
  public readonly launch: LaunchSpec;

  constructor(pipeline: Construct, props: InstanceProps, context: InstanceContext) {
    const { bucket } = context;
    this.role = new iam.Role(pipeline, 'InstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'Shell script pipeline job instances',
    });
    this.profile = new iam.InstanceProfile(pipeline, 'InstanceProfile', { role: this.role });

    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ListJobFiles', actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }));
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadJobFiles', actions: ['s3:GetObject'], resources: [bucket.arnForObjects('*')] }));
    // Task documents hold task tokens: an instance may read only the one tagged with its own role session.
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadOnlyOwnTaskDocument',
        effect: iam.Effect.DENY,
        actions: ['s3:GetObject', 's3:GetObjectVersion'],
        resources: [bucket.arnForObjects(`${RESERVED_PREFIX}*`)],
        conditions: { StringNotEquals: { [`s3:ExistingObjectTag/${OWNER_TAG}`]: '${aws:userid}' } },
      }),
    );
    // pipeline/runs/<aws:userid>/...: the policy variable right after a fixed prefix pins the first folder to this role
    // session (an aws:userid, <RoleId>:<InstanceId>, has no '/'). A variable after a wildcard would not: '*' also
    // matches '/', so pipeline/runs/*/${aws:userid}/* let an instance write inside another instance's folder.
    const ownRunFolder = bucket.arnForObjects(`${RUNS_PREFIX}\${aws:userid}/*`);
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'WriteOwnRunArtifacts', actions: ['s3:PutObject'], resources: [ownRunFolder] }));
    acknowledge(
      this.role.node.findChild('DefaultPolicy'),
      {
        id: wildcardResource(pipeline, bucket.arnForObjects('*')),
        reason:
          'Jobs read their script and its sibling files from any key the user chooses in the job bucket; ' +
          'an explicit Deny in the same policy keeps every instance out of pipeline/ objects not tagged with its own aws:userid.',
      },
      {
        id: wildcardResource(pipeline, ownRunFolder),
        reason:
          'An instance writes its run artifacts under pipeline/runs/${aws:userid}/ (<RoleId>:<InstanceId>, its own role session), ' +
          'in a folder named after the execution, which is not known when the policy is written. The policy variable comes right ' +
          "after the fixed prefix, so no key in another instance's folder matches, at any depth.",
      },
    );

    this.launch = new InstanceLaunch(pipeline, props, context, this.role, this.profile);
  }
}

/** The RunInstances request for a job instance, and the IAM it needs. */
class InstanceLaunch implements LaunchSpec {
  public readonly onDemand: boolean;
  public readonly spot: boolean;
  public readonly subnetIds: string[];
  public readonly iamResources: string[];
  private readonly stack: Stack;

  constructor(
    pipeline: Construct,
    private readonly props: InstanceProps,
    private readonly context: InstanceContext,
    private readonly role: iam.IRole,
    private readonly profile: iam.InstanceProfile,
  ) {
    this.stack = Stack.of(pipeline);
    // On-Demand unless Spot is on; with Spot, On-Demand only for the last of several attempts (if asked).
    this.spot = props.spot !== undefined;
    this.onDemand = !props.spot || ((props.spot.onDemandOnLastAttempt ?? true) && context.maxAttempts > 1);
    this.subnetIds = context.network.subnetIds;
    this.iamResources = [
      this.ec2Arn('volume', '*'),
      this.ec2Arn('network-interface', '*'),
      ...this.subnetIds.map((id) => this.ec2Arn('subnet', id)),
      this.ec2Arn('security-group', context.network.securityGroup.securityGroupId),
      this.stack.formatArn({ service: 'ec2', account: '', resource: 'image', resourceName: context.image.imageId, arnFormat: ArnFormat.SLASH_RESOURCE_NAME }),
    ];
  }

  public parameters(v: LaunchValues): Record<string, unknown> {
    const { props, context } = this;
    const tags = [
      { Key: INSTANCE_TAGS.PIPELINE, Value: context.pipelineId },
      { Key: INSTANCE_TAGS.EXECUTION, Value: sfn.JsonPath.executionName },
      { Key: 'Name', Value: sfn.JsonPath.format('{}/{}', context.pipelineId, sfn.JsonPath.executionName) },
    ];
    return {
      ImageId: context.image.imageId,
      InstanceType: instanceTypeOf(props).toString(),
      MinCount: 1,
      MaxCount: 1,
      ClientToken: v.clientToken,
      IamInstanceProfile: { Arn: this.profile.instanceProfileArn },
      UserData: v.userData,
      InstanceInitiatedShutdownBehavior: 'terminate',
      MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1 },
      NetworkInterfaces: [
        {
          DeviceIndex: 0,
          SubnetId: v.subnetId,
          Groups: [context.network.securityGroup.securityGroupId],
          AssociatePublicIpAddress: context.network.assignPublicIp,
          DeleteOnTermination: true,
        },
      ],
      BlockDeviceMappings: [
        {
          DeviceName: props.rootDeviceName ?? '/dev/xvda',
          Ebs: {
            Encrypted: true,
            DeleteOnTermination: true,
            VolumeType: 'gp3',
            ...(props.rootVolumeSize !== undefined ? { VolumeSize: props.rootVolumeSize.toGibibytes() } : {}),
            // RunInstances' EbsBlockDevice.KmsKeyId: the customer managed key for this volume; without it, EBS uses the
            // account's default key for EBS encryption (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EbsBlockDevice.html).
            ...(props.volumeKey !== undefined ? { KmsKeyId: props.volumeKey.keyArn } : {}),
          },
        },
      ],
      TagSpecifications: [
        { ResourceType: 'instance', Tags: tags },
        { ResourceType: 'volume', Tags: tags },
      ],
      ...(v.spot
        ? {
          InstanceMarketOptions: {
            MarketType: 'spot',
            SpotOptions: {
              SpotInstanceType: 'one-time',
              InstanceInterruptionBehavior: 'terminate',
              ...(props.spot?.maxPrice !== undefined ? { MaxPrice: props.spot.maxPrice } : {}),
            },
          },
        }
        : {}),
    };
  }

  public additionalStatements(spot: boolean): iam.PolicyStatement[] {
    return [
      // A new instance must carry this pipeline's tag: that is what lets TerminateInstances be scoped to it.
      new iam.PolicyStatement({
        actions: ['ec2:RunInstances'],
        resources: [this.ec2Arn('instance', '*')],
        conditions: { StringEquals: { [`aws:RequestTag/${INSTANCE_TAGS.PIPELINE}`]: this.context.pipelineId } },
      }),
      new iam.PolicyStatement({
        actions: ['ec2:CreateTags'],
        resources: [this.ec2Arn('instance', '*'), this.ec2Arn('volume', '*')],
        conditions: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
      }),
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [this.role.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
      }),
      ...this.volumeKeyStatements(),
      // The first Spot launch in an account creates EC2's Spot service-linked role.
      ...(spot
        ? [
          new iam.PolicyStatement({
            actions: ['iam:CreateServiceLinkedRole'],
            resources: [
              this.stack.formatArn({ service: 'iam', region: '', resource: 'role', resourceName: 'aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot' }),
            ],
            conditions: { StringEquals: { 'iam:AWSServiceName': 'spot.amazonaws.com' } },
          }),
        ]
        : []),
    ];
  }

  public nagAcknowledgements(scope: Construct): NagAcknowledgement[] {
    return [
      {
        id: wildcardResource(scope, this.ec2Arn('instance', '*')),
        reason: "Instance IDs do not exist before RunInstances; RunInstances on instance/* requires the request to tag the instance with this pipeline's ID.",
      },
      {
        id: wildcardResource(scope, this.ec2Arn('volume', '*')),
        reason: 'RunInstances creates the root volume; its ID does not exist before the call. The volume is encrypted and deleted on termination.',
      },
      {
        id: wildcardResource(scope, this.ec2Arn('network-interface', '*')),
        reason: 'RunInstances creates the network interface; its ID does not exist before the call. It is deleted on termination.',
      },
    ];
  }

  /**
   * What the RunInstances caller needs to launch with an EBS volume encrypted under `volumeKey`: the permissions the
   * Amazon EBS User Guide lists for EBS encryption ("Requirements for Amazon EBS encryption", Permissions for users,
   * https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html): kms:CreateGrant only for grants
   * AWS services create on the caller's behalf (kms:GrantIsForAWSResource), kms:Decrypt, kms:DescribeKey,
   * kms:GenerateDataKeyWithoutPlaintext and kms:ReEncrypt (both its actions, From and To, named).
   */
  private volumeKeyStatements(): iam.PolicyStatement[] {
    const key = this.props.volumeKey;
    if (key === undefined) return [];
    return [
      new iam.PolicyStatement({
        actions: ['kms:CreateGrant'],
        resources: [key.keyArn],
        conditions: { Bool: { 'kms:GrantIsForAWSResource': true } },
      }),
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncryptFrom', 'kms:ReEncryptTo'],
        resources: [key.keyArn],
      }),
    ];
  }

  private ec2Arn(resource: string, name: string): string {
    return this.stack.formatArn({ service: 'ec2', resource, resourceName: name, arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
  }
}

function instanceTypeOf(props: InstanceProps): ec2.InstanceType {
  return props.instanceType ?? ec2.InstanceType.of(ec2.InstanceClass.T3, ec2.InstanceSize.MICRO);
}
