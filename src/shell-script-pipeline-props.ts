import { Duration, RemovalPolicy, Size } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { TaskHandoff } from './parts/handoff';
import type { SpotOptions } from './parts/instance';
import type { PipelineSchedule } from './parts/schedule';
import type { StagingOptions } from './parts/staging';
// For the {@link} below only (a type import: no module cycle at run time).
import type { ShellScriptPipeline } from './shell-script-pipeline';

/**
 * Properties of a {@link ShellScriptPipeline}.
 */
export interface ShellScriptPipelineProps {
  /**
   * How long one job may run, from the moment its instance is handed the task until it reports.
   * Covers boot, fetching the job's files and the script itself. When it passes, the run fails with
   * `States.Timeout` and the instance is terminated. Also how long an attempt may wait for EC2
   * capacity or quota before its launch fails.
   *
   * @default Duration.hours(1)
   */
  readonly jobTimeout?: Duration;

  /**
   * Fail the run when the instance sends no heartbeat for this long. The runtime on the instance
   * heartbeats at a third of it, so a plain shell script needs no heartbeat code. Also bounds how long
   * an instance that never boots can hold a run. Must be shorter than `jobTimeout`.
   *
   * @default Duration.minutes(5)
   */
  readonly heartbeatTimeout?: Duration;

  /**
   * The instance type jobs run on.
   *
   * @default - t3.micro
   */
  readonly instanceType?: ec2.InstanceType;

  /**
   * The image jobs run on. Must be Linux with bash, curl and the AWS CLI (Amazon Linux has them);
   * Node.js 20+ is installed from the distribution's repository at boot if the image lacks it.
   *
   * @default - the latest Amazon Linux 2023 for the instance type's architecture, resolved at deploy time
   * from the public SSM parameter
   */
  readonly machineImage?: ec2.IMachineImage;

  /**
   * Device name of the image's root volume, so it is launched encrypted.
   *
   * @default '/dev/xvda' (Amazon Linux)
   */
  readonly rootDeviceName?: string;

  /**
   * Size of the instance's root volume.
   *
   * @default - the image's own root volume size
   */
  readonly rootVolumeSize?: Size;

  /**
   * The customer managed KMS key that encrypts the job instances' root volume. The state machine role (which calls
   * RunInstances) gets the KMS permissions EBS needs for it; a key in another account must allow that role in its key
   * policy. Pass the key, not an alias. If the account's default EBS encryption uses a customer managed key, pass that
   * key here: without permissions on it, launches fail.
   *
   * @default - encrypted with the account's default key for EBS encryption (the AWS managed key unless changed)
   */
  readonly volumeKey?: kms.IKey;

  /**
   * An existing VPC to launch the job instances in. Mutually exclusive with `vpcCidr` and `maxAzs`.
   * The selected subnets need a route to S3 and Step Functions (an internet gateway with
   * `assignPublicIp`, a NAT gateway, or VPC endpoints).
   *
   * @default - a new VPC with one public subnet per AZ and no NAT gateway
   */
  readonly vpc?: ec2.IVpc;

  /**
   * Which subnets of `vpc` to launch in. Only with `vpc`.
   *
   * @default - the VPC's private subnets with egress if it has any, else its public subnets
   */
  readonly vpcSubnets?: ec2.SubnetSelection;

  /**
   * CIDR block of the VPC the construct creates (a /16 to a /24). Only without `vpc`.
   *
   * @default '10.0.0.0/16'
   */
  readonly vpcCidr?: string;

  /**
   * How many AZs the created VPC spans (one public subnet each). Only without `vpc`.
   *
   * @default 2
   */
  readonly maxAzs?: number;

  /**
   * Give the job instance a public IPv4 address, so it can reach S3 and Step Functions through an
   * internet gateway without a NAT gateway. It has no inbound rules either way.
   *
   * @default - true for the VPC the construct creates, and for public subnets of an existing VPC; false otherwise
   */
  readonly assignPublicIp?: boolean;

  /**
   * Email address subscribed to the notification topic. AWS sends it a confirmation message first.
   *
   * @default - no subscription; use `topic` to add your own
   */
  readonly notificationEmail?: string;

  /**
   * KMS key that encrypts the notification topic. Notifications carry job output tails.
   *
   * @default - not encrypted with a customer-managed key
   */
  readonly notificationKey?: kms.IKey;

  /**
   * How long the pipeline keeps what it writes to the job bucket itself: run logs under `pipeline/runs/`.
   * Task documents under `pipeline/tasks/` are deleted after one day. Your scripts are never expired.
   *
   * @default Duration.days(90)
   */
  readonly runArtifactsRetention?: Duration;

  /**
   * What happens to the job bucket when the stack is deleted.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly bucketRemovalPolicy?: RemovalPolicy;

  /**
   * How many times one execution tries its job (Data Pipeline's `maximumRetries` + 1). A failed attempt
   * (non-zero exit, heartbeat or job timeout, Spot interruption, launch failure) terminates its instance,
   * waits `retryDelay` and launches a fresh one. Bad input and an instance that cannot be terminated are not retried.
   *
   * @default 1
   */
  readonly maxAttempts?: number;

  /**
   * How long to wait between a failed attempt and the next (Data Pipeline's `retryDelay`).
   *
   * @default Duration.minutes(1)
   */
  readonly retryDelay?: Duration;

  /**
   * At most this many jobs of this pipeline run at once (Data Pipeline's `maxActiveInstances`), from 1 to 1000. A run
   * beyond the limit waits for a job slot after its input is validated, with backoff and jitter, for up to `jobTimeout`,
   * then fails with `Concurrency.NoSlot`; it launches nothing while it waits. A run keeps its slot across its attempts
   * and gives it back on every way it ends; a run stopped by hand or timed out gets it back from the cleanup, and a
   * slot whose run is no longer running is reclaimed by the next run that waits. The slots are one item of a DynamoDB
   * table billed on demand (no cost while idle); the run's execution timeout grows by `jobTimeout` for the wait.
   *
   * @default - no limit: no table and no extra states
   */
  readonly maxConcurrentJobs?: number;

  /**
   * Launch job instances as Spot instances.
   *
   * @default - On-Demand instances
   */
  readonly spot?: SpotOptions;

  /**
   * An existing topic for the notifications, instead of one the construct creates. Mutually exclusive with `notificationKey`.
   *
   * @default - a new topic
   */
  readonly notificationTopic?: sns.ITopic;

  /**
   * Send a notification when a run succeeds (Data Pipeline's `onSuccess`).
   *
   * @default true
   */
  readonly notifyOnSuccess?: boolean;

  /**
   * Send a notification when a run fails (Data Pipeline's `onFail`).
   *
   * @default true
   */
  readonly notifyOnFailure?: boolean;

  /**
   * How each execution's task token reaches its instance.
   *
   * @default TaskHandoff.TASK_TOKEN
   */
  readonly taskHandoff?: TaskHandoff;

  /**
   * Start runs on a schedule (Data Pipeline's `schedule`), with EventBridge Scheduler.
   *
   * @default - no schedule; start executions yourself
   */
  readonly schedule?: PipelineSchedule;

  /**
   * Folders synced between the job bucket and the instance around the script (Data Pipeline's `stage`,
   * `${INPUT1_STAGING_DIR}` and `${OUTPUT1_STAGING_DIR}`): the script finds them in `$SSP_INPUT_DIR` and `$SSP_OUTPUT_DIR`.
   *
   * @default - no staging; both directories exist and are empty, and nothing is copied out
   */
  readonly staging?: StagingOptions;

  /**
   * Also copy each job's output to a CloudWatch Logs group the construct creates, kept this long
   * (one log stream per attempt: `<execution>/<instance ID>`). The output always goes to the job bucket first;
   * after each attempt the run state machine invokes a log forwarder (a Lambda function the construct creates)
   * that copies it from there, so the instances need no CloudWatch Logs permission. A log larger than 4 MiB is
   * copied as its first and last 2 MiB. The forwarder failing never changes a run's outcome.
   *
   * @default - output only in the job bucket, under `pipeline/runs/`
   */
  readonly jobLogRetention?: logs.RetentionDays;

  /**
   * A local folder uploaded into the job bucket at deploy time, under `scriptsPrefix`, so scripts ship with the stack.
   *
   * @default - nothing is uploaded; put scripts in the bucket yourself
   */
  readonly scriptsPath?: string;

  /**
   * Where `scriptsPath` goes in the job bucket. Start executions with `{"script": "<scriptsPrefix><file>"}`.
   *
   * @default 'scripts/'
   */
  readonly scriptsPrefix?: string;

  /**
   * Create a CloudWatch alarm that goes off when a run fails, and sends to the notification topic
   * (Data Pipeline's `onFail` alarm, for people who watch alarms rather than email).
   *
   * @default false
   */
  readonly failureAlarm?: boolean;
}
