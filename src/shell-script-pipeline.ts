import { Duration, Names, RemovalPolicy, Size, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { Bootstrap } from './bootstrap';
import { Attempts } from './parts/attempts';
import { handoffFor, TaskHandoff } from './parts/handoff';
import { Instance, SpotOptions } from './parts/instance';
import { JobBucket } from './parts/job-bucket';
import { JobLogs } from './parts/job-logs';
import { Network } from './parts/network';
import { Notifications } from './parts/notifications';
import { RuntimeAsset } from './parts/runtime-asset';
import { PipelineSchedule, RunSchedule } from './parts/schedule';
import { Scripts } from './parts/scripts';
import { Staging, StagingOptions } from './parts/staging';
import { Cleanup } from './workflow/cleanup';
import { RunStateMachine } from './workflow/run';

/**
 * Properties of a {@link ShellScriptPipeline}.
 */
export interface ShellScriptPipelineProps {
  /**
   * How long one job may run, from the moment its instance is handed the task until it reports.
   * Covers boot, fetching the job's files and the script itself. When it passes, the run fails with
   * `States.Timeout` and the instance is terminated.
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
   * Also send each job's output to a CloudWatch Logs group the construct creates, kept this long
   * (one log stream per attempt: `<execution>/<instance ID>`). The output always goes to the job bucket too.
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

/**
 * Runs a shell script on a fresh EC2 instance for each Step Functions execution, waits for it with
 * heartbeats, terminates the instance and sends a notification: AWS Data Pipeline's
 * ShellCommandActivity on an Ec2Resource, rebuilt on Step Functions.
 *
 * Upload a script to `bucket`, then start an execution of `stateMachine` with
 * `{"script": "<key>", "args": ["..."]}`.
 *
 * @example
 * const pipeline = new ShellScriptPipeline(this, 'Nightly', {
 *   jobTimeout: Duration.hours(2),
 *   notificationEmail: 'ops@example.com',
 * });
 * pipeline.grantStartExecution(myRole);
 */
export class ShellScriptPipeline extends Construct {
  /** The VPC the job instances run in (created or imported). */
  public readonly vpc: ec2.IVpc;
  /** The security group of the job instances. It has no inbound rules. */
  public readonly securityGroup: ec2.ISecurityGroup;
  /** The job bucket: upload scripts here. `pipeline/` is reserved for the pipeline's own objects. */
  public readonly bucket: s3.IBucket;
  /** The notification topic: one message per run, with the status in the subject. */
  public readonly topic: sns.ITopic;
  /** The role the job instances run as. Grant it what your scripts need. */
  public readonly instanceRole: iam.IRole;
  /** The state machine that runs jobs. */
  public readonly stateMachine: sfn.StateMachine;
  /**
   * Cleans up after runs that end without their own cleanup path: stopped by hand (ABORTED), past the
   * execution timeout (TIMED_OUT), or failed inside the service. Started by an EventBridge rule.
   */
  public readonly cleanupStateMachine: sfn.StateMachine;
  /** The EventBridge rule that starts `cleanupStateMachine` when a run ends ABORTED, TIMED_OUT or FAILED. */
  public readonly cleanupRule: events.Rule;
  /** The value of the `shell-script-pipeline:pipeline` tag on every instance this pipeline launches. */
  public readonly pipelineId: string;
  /**
   * The activity "Pause for Job Completion" waits on. Conditional: only with `taskHandoff: TaskHandoff.ACTIVITY`.
   */
  public readonly activity?: sfn.Activity;
  /** The EventBridge Scheduler schedule that starts runs. Conditional: only with `schedule`. */
  public readonly schedule?: scheduler.Schedule;
  /** The CloudWatch Logs group that receives each job's output. Conditional: only with `jobLogRetention`. */
  public readonly jobLogGroup?: logs.LogGroup;
  /** The alarm on failed runs. Conditional: only with `failureAlarm: true`. */
  public readonly failureAlarm?: cloudwatch.Alarm;
  /** The deployment that uploads `scriptsPath` into the job bucket. Conditional: only with `scriptsPath`. */
  public readonly scriptsDeployment?: s3deploy.BucketDeployment;

  constructor(scope: Construct, id: string, props: ShellScriptPipelineProps = {}) {
    super(scope, id);

    this.pipelineId = `${Stack.of(this).stackName}-${Names.uniqueId(this).slice(-8)}`;
    const image = Instance.imageOf(this, props);

    rejectProblems(id, [
      ...Attempts.problems(props),
      ...Network.problems(props),
      ...JobBucket.problems(props),
      ...Notifications.problems(props),
      ...Instance.problems(props, image),
      ...Staging.problems(props),
      ...Scripts.problems(props),
      ...RunSchedule.problems(props),
    ]);
    const attempts = new Attempts(this, props);
    const { jobTimeout, heartbeatTimeout, maxAttempts } = attempts;

    const network = new Network(this, props);
    this.vpc = network.vpc;
    this.securityGroup = network.securityGroup;

    const handoff = handoffFor(props.taskHandoff);
    const jobBucket = new JobBucket(this, props, handoff.lifecycleRules);
    const bucket = jobBucket.bucket;
    this.bucket = bucket;

    const notifications = new Notifications(this, props);
    const topic = notifications.topic;
    this.topic = topic;

    const instance = new Instance(this, props, { image, bucket, network, pipelineId: this.pipelineId, maxAttempts });
    const role = instance.role;
    this.instanceRole = role;

    const runtime = new RuntimeAsset(this, role);
    handoff.bind(this, { bucket, role });
    this.activity = handoff.activity;

    const staging = new Staging(this, props, { bucket, role });
    const jobLogs = new JobLogs(this, props, role);
    this.jobLogGroup = jobLogs.logGroup;

    const bootstrap = new Bootstrap({
      bucketName: bucket.bucketName,
      // The job bucket and the CDK asset bucket are in the stack's account: the bootstrap reads from no other.
      accountId: Stack.of(this).account,
      roleId: role.roleId,
      runtimeUrl: runtime.url,
      runtimeSha256: runtime.sha256,
      // Text, so a duration from a CloudFormation parameter resolves at deploy time; the bootstrap does the arithmetic.
      jobSeconds: attempts.jobSeconds,
      heartbeatSeconds: attempts.heartbeatSeconds,
    });
    handoff.addToBootstrap(bootstrap);
    staging.addToBootstrap(bootstrap);
    jobLogs.addToBootstrap(bootstrap);

    // ---- State machine --------------------------------------------------------------------------
    const pipelineId = this.pipelineId;
    const run = new RunStateMachine(this, {
      pipelineId,
      bucket,
      topic,
      instanceRoleId: role.roleId,
      launch: instance.launch,
      pause: handoff,
      userData: bootstrap.render(),
      jobTimeout,
      heartbeatTimeout,
      maxAttempts,
      retryDelay: attempts.retryDelay,
      timeout: attempts.executionTimeout,
      notifyOnSuccess: notifications.notifyOnSuccess,
      notifyOnFailure: notifications.notifyOnFailure,
    });
    this.stateMachine = run.stateMachine;
    notifications.grantPublish(this.stateMachine);

    // Instances answer their own execution's task (the token is what ties an answer to one execution).
    this.stateMachine.grantTaskResponse(role);

    // ---- Backstop: runs that end without their own Catch path (StopExecution, execution timeout, service failure)
    const cleanup = new Cleanup(this, { topic, pipelineId, runStateMachine: this.stateMachine, logs: run.logGroup });
    this.cleanupStateMachine = cleanup.stateMachine;
    this.cleanupRule = cleanup.rule;
    notifications.grantPublish(this.cleanupStateMachine);

    this.schedule = new RunSchedule(this, props, this.stateMachine).schedule;
    this.scriptsDeployment = new Scripts(this, props, bucket).deployment;

    this.failureAlarm = notifications.alarmOnFailedRuns((o) => this.metricFailed(o));

  }

  /**
   * Runs that failed (including runs whose every attempt failed, and bad input).
   *
   * @default - sum over 5 minutes
   */
  public metricFailed(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricFailed(props);
  }

  /**
   * Runs that succeeded.
   *
   * @default - sum over 5 minutes
   */
  public metricSucceeded(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricSucceeded(props);
  }

  /**
   * Runs that passed the execution timeout (every attempt's job timeout, the retry delays and 30 minutes) and were ended by Step Functions.
   *
   * @default - sum over 5 minutes
   */
  public metricTimedOut(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricTimedOut(props);
  }

  /**
   * Runs stopped by hand (StopExecution).
   *
   * @default - sum over 5 minutes
   */
  public metricAborted(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricAborted(props);
  }

  /**
   * Lets `grantee` start executions (runs) of this pipeline.
   */
  public grantStartExecution(grantee: iam.IGrantable): iam.Grant {
    return this.stateMachine.grantStartExecution(grantee);
  }
}


/** Throws one error that lists every problem with the props, each naming the prop, the value received and the fix. */
function rejectProblems(id: string, problems: string[]): void {
  if (problems.length > 0) {
    throw new Error(`ShellScriptPipeline '${id}': ${problems.length === 1 ? problems[0] : '\n  - ' + problems.join('\n  - ')}`);
  }
}
