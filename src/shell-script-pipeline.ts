import { Names, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { Bootstrap } from './bootstrap';
import { Attempts } from './parts/attempts';
import { Concurrency } from './parts/concurrency';
import { handoffFor } from './parts/handoff';
import { Instance } from './parts/instance';
import { JobBucket } from './parts/job-bucket';
import { JobLogs } from './parts/job-logs';
import { Network } from './parts/network';
import { Notifications } from './parts/notifications';
import { RuntimeAsset } from './parts/runtime-asset';
import { RunSchedule } from './parts/schedule';
import { Scripts } from './parts/scripts';
import { Staging } from './parts/staging';
import { ShellScriptPipelineProps } from './shell-script-pipeline-props';
import { Cleanup } from './workflow/cleanup';
import { FanOutProps, fanOutProblems, FanOutState } from './workflow/fan-out';
import { RunStateMachine } from './workflow/run';
import { jobExecutionInput, jobInputProblems, RunJobProps, RunJobState } from './workflow/run-job';

export type { ShellScriptPipelineProps } from './shell-script-pipeline-props';

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
   * The Express state machine that checks every run's input. `stateMachine` calls it synchronously in its first state,
   * "Validate input", and launches nothing unless it succeeds; its failed executions are logged to its own log group.
   */
  public readonly validationStateMachine: sfn.StateMachine;
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
  /** The DynamoDB table that holds the job slots. Conditional: only with `maxConcurrentJobs`. */
  public readonly jobSlotsTable?: dynamodb.ITable;
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

    // Every part checks its own props; all problems are reported together, before anything is built.
    const image = Instance.imageOf(this, props);
    const problems = [
      ...Attempts.problems(props),
      ...Network.problems(props),
      ...JobBucket.problems(props),
      ...Notifications.problems(props),
      ...Instance.problems(props, image),
      ...Staging.problems(props),
      ...Scripts.problems(props),
      ...RunSchedule.problems(props),
      ...Concurrency.problems(props),
    ];
    if (problems.length > 0) {
      throw new Error(`ShellScriptPipeline '${id}': ${problems.length === 1 ? problems[0] : '\n  - ' + problems.join('\n  - ')}`);
    }

    // The parts, in the order their resources and grants depend on each other. Each creates its resources in this
    // construct's scope with the construct IDs of earlier releases, so logical IDs stay the same.
    const attempts = new Attempts(this, props);
    const network = new Network(this, props);
    const handoff = handoffFor(props.taskHandoff);
    const jobBucket = new JobBucket(this, props, handoff.lifecycleRules);
    const bucket = jobBucket.bucket;
    const notifications = new Notifications(this, props);
    const instance = new Instance(this, props, { image, bucket, network, pipelineId: this.pipelineId, maxAttempts: attempts.maxAttempts });
    // Task documents hold task tokens: the bucket policy keeps every other principal from reading them.
    jobBucket.reserveTaskTokens(instance.role);
    const runtime = new RuntimeAsset(this, instance.role);
    handoff.bind(this, { bucket, role: instance.role });
    const staging = new Staging(this, props, { bucket, role: instance.role });
    const jobLogs = new JobLogs(this, props, bucket);
    const concurrency = new Concurrency(this, props);
    const executionTimeout = concurrency.executionTimeout(attempts.executionTimeout, attempts.jobTimeout);
    const slots = concurrency.slots({ jobTimeout: attempts.jobTimeout, lease: executionTimeout });

    const bootstrap = new Bootstrap({
      bucketName: bucket.bucketName,
      // The job bucket and the CDK asset bucket are in the stack's account: the bootstrap reads from no other.
      accountId: Stack.of(this).account,
      roleId: instance.role.roleId,
      runtimeUrl: runtime.url,
      runtimeSha256: runtime.sha256,
      // Text, so a duration from a CloudFormation parameter resolves at deploy time; the bootstrap does the arithmetic.
      jobSeconds: attempts.jobSeconds,
      heartbeatSeconds: attempts.heartbeatSeconds,
    });
    handoff.addToBootstrap(bootstrap);
    staging.addToBootstrap(bootstrap);

    const run = new RunStateMachine(this, {
      jobTimeout: attempts.jobTimeout,
      heartbeatTimeout: attempts.heartbeatTimeout,
      maxAttempts: attempts.maxAttempts,
      retryDelay: attempts.retryDelay,
      timeout: executionTimeout,
      pipelineId: this.pipelineId,
      bucket,
      topic: notifications.topic,
      notifyOnSuccess: notifications.notifyOnSuccess,
      notifyOnFailure: notifications.notifyOnFailure,
      afterJob: jobLogs.afterJob(instance.role.roleId),
      outputLocation: staging.outputLocation,
      instanceRoleId: instance.role.roleId,
      launch: instance.launch,
      pause: handoff,
      userData: bootstrap.render(),
      concurrency: slots,
    });
    notifications.grantPublish(run.stateMachine);
    // Instances answer their own execution's task (the token is what ties an answer to one execution).
    run.stateMachine.grantTaskResponse(instance.role);
    const cleanup = new Cleanup(this, {
      topic: notifications.topic,
      pipelineId: this.pipelineId,
      runStateMachine: run.stateMachine,
      logs: run.logGroup,
      afterInstances: slots?.slots.cleanupRelease(slots.scope),
    });
    notifications.grantPublish(cleanup.stateMachine);
    concurrency.grant(run.stateMachine, cleanup.stateMachine);

    this.vpc = network.vpc;
    this.securityGroup = network.securityGroup;
    this.bucket = bucket;
    this.topic = notifications.topic;
    this.instanceRole = instance.role;
    this.activity = handoff.activity;
    this.jobLogGroup = jobLogs.logGroup;
    this.stateMachine = run.stateMachine;
    this.validationStateMachine = run.validation.stateMachine;
    this.cleanupStateMachine = cleanup.stateMachine;
    this.cleanupRule = cleanup.rule;
    this.jobSlotsTable = concurrency.table;
    this.schedule = new RunSchedule(this, props, run.stateMachine).schedule;
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
   * Runs that passed the execution timeout (twice every attempt's job timeout: waiting for capacity and the job; the retry delays and 30 minutes) and were ended by Step Functions.
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
   * A state for another workflow that runs one job of this pipeline and waits for it.
   *
   * Data Pipeline's `dependsOn`: chain these with `.next()`. It starts a run with `states:startExecution.sync:2`, linked
   * to the workflow's execution in the console, and fails with the run's own error (`Job.NonZeroExit`, `States.Timeout`, `Input.*`, …), so
   * `addCatch` and `addRetry` match this pipeline's error names. Its result is `{executionArn, job}`, `job` being the
   * run's task output (`{exitCode, durationSeconds, outputTail, result}`). The workflow's role gets the grants it needs.
   * Stopping the workflow stops the run, and the pipeline's cleanup terminates its instance.
   *
   * The state is a Parallel state with one branch (the task and the states that raise the run's error): use it like a
   * task.
   *
   * @example
   * const pipeline = new ShellScriptPipeline(this, 'Jobs');
   * const extract = pipeline.runJob(this, 'Extract', { input: { script: 'jobs/extract.sh' }, resultPath: '$.extract' });
   * const load = pipeline.runJob(this, 'Load', {
   *   input: { script: 'jobs/load.sh', args: sfn.JsonPath.listAt('$.args'), env: { DAY: sfn.JsonPath.stringAt('$.date') } },
   * });
   * extract.addRetry({ errors: ['Job.SpotInterrupted'], maxAttempts: 2 });
   * new sfn.StateMachine(this, 'Nightly', {
   *   definitionBody: sfn.DefinitionBody.fromChainable(extract.next(load)),
   * });
   */
  public runJob(scope: Construct, id: string, props: RunJobProps): sfn.Parallel {
    const problems = jobInputProblems(props.input, `runJob '${id}': 'input'`);
    if (problems.length > 0) throw new Error(`ShellScriptPipeline '${this.node.id}': ${problems.join('; ')}`);
    return new RunJobState(scope, id, this.stateMachine, {
      input: jobExecutionInput(props.input),
      resultPath: props.resultPath,
      comment: props.comment,
    });
  }

  /**
   * A state for another workflow that runs one script over a list of shards and waits for all of them.
   *
   * One run of this pipeline per shard (AWS Batch's array jobs), at most `maxConcurrency` at once. Each run gets
   * `SSP_SHARD_INDEX` (0-based), `SSP_SHARD_COUNT` and `SSP_SHARD` (the list item) in its environment. The result is
   * `{shards: [...]}`, one item per shard in list order. By default the first failed shard fails the state with that
   * shard's own error and stops the other runs; `toleratedFailureCount` lets up to N shards fail.
   *
   * The state is a Parallel state with one branch (the list, a Map state of runJob states, the failure count).
   *
   * @example
   * const pipeline = new ShellScriptPipeline(this, 'Jobs');
   * const transform = pipeline.fanOut(this, 'Transform', {
   *   input: { script: 'jobs/transform.sh' },
   *   shards: ['eu', 'us', 'apac'],
   *   maxConcurrency: 3,
   *   toleratedFailureCount: 1,
   *   resultPath: '$.transform',
   * });
   * new sfn.StateMachine(this, 'Nightly', { definitionBody: sfn.DefinitionBody.fromChainable(transform) });
   */
  public fanOut(scope: Construct, id: string, props: FanOutProps): sfn.Parallel {
    const problems = [...fanOutProblems(props, `fanOut '${id}'`), ...jobInputProblems(props.input, `fanOut '${id}': 'input'`)];
    if (problems.length > 0) throw new Error(`ShellScriptPipeline '${this.node.id}': ${problems.join('; ')}`);
    return new FanOutState(scope, id, this.stateMachine, props);
  }

  /**
   * Lets `grantee` start executions (runs) of this pipeline.
   */
  public grantStartExecution(grantee: iam.IGrantable): iam.Grant {
    return this.stateMachine.grantStartExecution(grantee);
  }
}
