import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { buildInputValidation, INPUT_STATES } from './input-validation';
import { INPUT_ERRORS, INSTANCE_TAGS, OWNER_TAG, RUNS_PREFIX, TASKS_PREFIX } from '../protocol';
import { terminateInstancesState, terminateTaggedInstancesPolicy } from './terminate';

/** The state names users see in the console and in the execution history. Part of the API: do not rename. */
export const STATES = {
  ...INPUT_STATES,
  SUBNETS: 'Subnets',
  PREPARE: 'Prepare run',
  SCRIPT_OR_USER_INPUT: 'Script or userInput?',
  CHECK_SCRIPT: 'Check script exists',
  SCRIPT_NOT_FOUND: 'Script not found',
  SPOT_OR_ON_DEMAND: 'Spot or On-Demand?',
  LAUNCH: 'Launch instance',
  LAUNCH_SPOT: 'Launch Spot instance',
  LAUNCH_FAILED: 'Launch failed',
  NEXT_SUBNET: 'Try the next subnet',
  LAUNCH_GAVE_UP: 'Launch gave up',
  PAUSE: 'Pause for Job Completion',
  TERMINATE: 'Terminate instance',
  TERMINATE_FAILED: 'Terminate failed',
  DID_JOB_SUCCEED: 'Did the job succeed?',
  TRY_AGAIN: 'Try again?',
  WAIT_BEFORE_RETRY: 'Wait before the next attempt',
  NEXT_ATTEMPT: 'Next attempt',
  NOTIFY_SUCCESS: 'Notify success',
  NOTIFY_FAILURE: 'Notify failure',
  SUCCEEDED: 'Succeeded',
  FAILED: 'Failed',
} as const;

/**
 * Launch errors worth retrying. EC2's SDK integration reports most errors as the generic
 * `Ec2.Ec2Exception` (the EC2 error code is only in the cause), so that one is retried too.
 */
export const LAUNCH_RETRY_ERRORS = [
  'Ec2.Ec2Exception',
  'Ec2.InsufficientInstanceCapacityException',
  'Ec2.RequestLimitExceededException',
  'Ec2.InternalErrorException',
  'Ec2.UnavailableException',
  'States.Timeout',
] as const;

/** Spot settings the workflow needs. */
export interface WorkflowSpot {
  /** Highest hourly price; undefined for the On-Demand price. */
  readonly maxPrice?: string;
  /** Launch the last attempt On-Demand (when there is more than one attempt). */
  readonly onDemandOnLastAttempt: boolean;
}

/** Everything the workflow needs from the construct. String values may be tokens. */
export interface WorkflowOptions {
  readonly bucket: s3.IBucket;
  readonly topic: sns.ITopic;
  /** Value of the pipeline tag; TerminateInstances is only allowed on instances carrying it. */
  readonly pipelineId: string;
  readonly instanceRole: iam.IRole;
  readonly instanceRoleId: string;
  readonly instanceProfileArn: string;
  readonly imageId: string;
  readonly instanceType: string;
  readonly subnetIds: string[];
  readonly securityGroupId: string;
  readonly assignPublicIp: boolean;
  /**
   * What the definition holds in place of the base64 user data: a `\${...}` definition substitution.
   * (A CloudFormation intrinsic inside the definition string would have its text JSON-escaped.)
   */
  readonly userDataPlaceholder: string;
  readonly rootDeviceName: string;
  readonly rootVolumeSizeGiB?: number;
  readonly jobTimeout: Duration;
  readonly heartbeatTimeout: Duration;
  /** Attempts per execution (1 = no retry). */
  readonly maxAttempts: number;
  /** Wait between a failed attempt and the next. */
  readonly retryDelay: Duration;
  /** Launch Spot instances; undefined for On-Demand only. */
  readonly spot?: WorkflowSpot;
  readonly notifyOnSuccess: boolean;
  readonly notifyOnFailure: boolean;
  /** Activity mode: the activity "Pause for Job Completion" waits on; undefined for the default per-instance task token. */
  readonly activity?: sfn.IActivity;
}

/** The definition plus the IAM statements its custom states need on the state machine role. */
export interface Workflow {
  readonly definition: sfn.IChainable;
  readonly policies: iam.PolicyStatement[];
}

/**
 * Builds the run's state machine definition:
 *
 *   Validate input (… Input.* errors → Notify failure → Failed, nothing launched)
 *   → Subnets → Prepare run → [Check script exists] → Spot or On-Demand? → Launch (Spot) instance
 *   → Pause for Job Completion → Terminate instance → Did the job succeed?
 *       yes → Notify success → Succeeded
 *       no  → Try again? → Wait before the next attempt → Next attempt → Spot or On-Demand? …
 *                        → Notify failure → Failed
 *
 * A launch that fails in every subnet is a failed attempt with nothing to terminate. Every failure after
 * a launch goes through Terminate instance first, so no path leaves an instance running.
 */
export function buildWorkflow(scope: Construct, o: WorkflowOptions): Workflow {
  const stack = Stack.of(scope);
  const ec2Arn = (resource: string, name: string) =>
    stack.formatArn({ service: 'ec2', resource, resourceName: name, arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
  const logUrl = sfn.JsonPath.format(
    `s3://${o.bucket.bucketName}/${RUNS_PREFIX}{}/${o.instanceRoleId}:{}/output.log`,
    sfn.JsonPath.executionName,
    sfn.JsonPath.stringAt('$.instance.InstanceId'),
  );
  const notifyRetry: sfn.RetryProps = {
    errors: [sfn.Errors.ALL],
    interval: Duration.seconds(2),
    backoffRate: 2,
    maxAttempts: 5,
    jitterStrategy: sfn.JitterType.FULL,
  };

  // ---- The ends ---------------------------------------------------------------------------------
  const failed = new sfn.Fail(scope, STATES.FAILED, {
    comment: 'The run failed; error and cause say why (the instance, if any, is already terminated).',
    errorPath: '$.error.Error',
    causePath: '$.error.Cause',
  });
  const succeeded = new sfn.Succeed(scope, STATES.SUCCEEDED);
  // One notification per run, status in the subject. The run's status is what matters: a notification that
  // cannot be sent after retries does not change it.
  const notify = (id: string, status: 'SUCCEEDED' | 'FAILED', end: sfn.State, details: Record<string, unknown>) => {
    const publish = new tasks.SnsPublish(scope, id, {
      topic: o.topic,
      subject: sfn.JsonPath.format(`${status}: {}`, sfn.JsonPath.executionName),
      message: sfn.TaskInput.fromObject({
        status,
        pipeline: o.pipelineId,
        execution: sfn.JsonPath.executionName,
        executionArn: sfn.JsonPath.executionId,
        attempt: sfn.JsonPath.numberAt('$.attempt'),
        maxAttempts: o.maxAttempts,
        instanceId: sfn.JsonPath.stringAt('$.instance.InstanceId'),
        ...details,
        log: logUrl,
      }),
      resultPath: sfn.JsonPath.DISCARD,
    });
    publish.addRetry(notifyRetry);
    publish.addCatch(end, { errors: [sfn.Errors.ALL], resultPath: '$.notifyError' });
    return publish.next(end);
  };
  const onFailure: sfn.IChainable = o.notifyOnFailure
    ? notify(STATES.NOTIFY_FAILURE, 'FAILED', failed, {
      error: sfn.JsonPath.stringAt('$.error.Error'),
      cause: sfn.JsonPath.stringAt('$.error.Cause'),
    })
    : failed;
  const onSuccess: sfn.IChainable = o.notifyOnSuccess
    ? notify(STATES.NOTIFY_SUCCESS, 'SUCCEEDED', succeeded, { job: sfn.JsonPath.objectAt('$.job') })
    : succeeded;

  // ---- Validate input, then prepare the first attempt -------------------------------------------
  const subnets = new sfn.Pass(scope, STATES.SUBNETS, {
    comment: 'The subnets to launch in, in order of preference',
    result: sfn.Result.fromArray(o.subnetIds),
    resultPath: '$.subnets',
  });
  const attemptState = (attempt: string | number) => ({
    'script.$': '$.script',
    'userInput.$': '$.userInput',
    'args.$': '$.args',
    'env.$': '$.env',
    'subnets.$': '$.subnets',
    ...(typeof attempt === 'number' ? { attempt } : { 'attempt.$': attempt }),
    // No instance yet; the client token makes launch retries idempotent.
    'instance': { 'InstanceId': 'none', 'ClientToken.$': 'States.UUID()', 'SubnetIndex': 0 },
  });
  const prepare = new sfn.Pass(scope, STATES.PREPARE, { comment: 'Input is valid: the first attempt', parameters: attemptState(1) });
  const validation = buildInputValidation(scope, subnets, onFailure);
  subnets.next(prepare);

  // ---- Check the script exists (before paying for an instance) --------------------------------
  const scriptNotFound = new sfn.Pass(scope, STATES.SCRIPT_NOT_FOUND, {
    parameters: {
      Error: INPUT_ERRORS.SCRIPT_NOT_FOUND,
      Cause: sfn.JsonPath.format(
        `s3://${o.bucket.bucketName}/{} cannot be read ({}); upload the script first`,
        sfn.JsonPath.stringAt('$.script'),
        sfn.JsonPath.stringAt('$.error.Error'),
      ),
    },
    resultPath: '$.error',
  }).next(onFailure);
  const checkScript = new tasks.CallAwsService(scope, STATES.CHECK_SCRIPT, {
    service: 's3',
    action: 'headObject',
    parameters: { Bucket: o.bucket.bucketName, Key: sfn.JsonPath.stringAt('$.script') },
    iamAction: 's3:GetObject',
    iamResources: [o.bucket.arnForObjects('*')],
    resultPath: sfn.JsonPath.DISCARD,
  });
  checkScript.addCatch(scriptNotFound, { errors: [sfn.Errors.ALL], resultPath: '$.error' });

  // ---- Launch ---------------------------------------------------------------------------------
  const tags = [
    { Key: INSTANCE_TAGS.PIPELINE, Value: o.pipelineId },
    { Key: INSTANCE_TAGS.EXECUTION, Value: sfn.JsonPath.executionName },
    { Key: 'Name', Value: sfn.JsonPath.format('{}/{}', o.pipelineId, sfn.JsonPath.executionName) },
  ];
  const launchParameters = (spot: boolean) => ({
    ImageId: o.imageId,
    InstanceType: o.instanceType,
    MinCount: 1,
    MaxCount: 1,
    ClientToken: sfn.JsonPath.stringAt('$.instance.ClientToken'),
    IamInstanceProfile: { Arn: o.instanceProfileArn },
    UserData: o.userDataPlaceholder,
    InstanceInitiatedShutdownBehavior: 'terminate',
    MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1 },
    NetworkInterfaces: [
      {
        DeviceIndex: 0,
        SubnetId: sfn.JsonPath.arrayGetItem(sfn.JsonPath.listAt('$.subnets'), sfn.JsonPath.numberAt('$.instance.SubnetIndex')),
        Groups: [o.securityGroupId],
        AssociatePublicIpAddress: o.assignPublicIp,
        DeleteOnTermination: true,
      },
    ],
    BlockDeviceMappings: [
      {
        DeviceName: o.rootDeviceName,
        Ebs: {
          Encrypted: true,
          DeleteOnTermination: true,
          VolumeType: 'gp3',
          ...(o.rootVolumeSizeGiB !== undefined ? { VolumeSize: o.rootVolumeSizeGiB } : {}),
        },
      },
    ],
    TagSpecifications: [
      { ResourceType: 'instance', Tags: tags },
      { ResourceType: 'volume', Tags: tags },
    ],
    ...(spot
      ? {
        InstanceMarketOptions: {
          MarketType: 'spot',
          SpotOptions: {
            SpotInstanceType: 'one-time',
            InstanceInterruptionBehavior: 'terminate',
            ...(o.spot?.maxPrice !== undefined ? { MaxPrice: o.spot.maxPrice } : {}),
          },
        },
      }
      : {}),
  });
  const launchIam = {
    iamResources: [
      ec2Arn('volume', '*'),
      ec2Arn('network-interface', '*'),
      ...o.subnetIds.map((id) => ec2Arn('subnet', id)),
      ec2Arn('security-group', o.securityGroupId),
      stack.formatArn({ service: 'ec2', account: '', resource: 'image', resourceName: o.imageId, arnFormat: ArnFormat.SLASH_RESOURCE_NAME }),
    ],
    additionalIamStatements: [
      // A new instance must carry this pipeline's tag: that is what lets TerminateInstances be scoped to it.
      new iam.PolicyStatement({
        actions: ['ec2:RunInstances'],
        resources: [ec2Arn('instance', '*')],
        conditions: { StringEquals: { [`aws:RequestTag/${INSTANCE_TAGS.PIPELINE}`]: o.pipelineId } },
      }),
      new iam.PolicyStatement({
        actions: ['ec2:CreateTags'],
        resources: [ec2Arn('instance', '*'), ec2Arn('volume', '*')],
        conditions: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
      }),
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [o.instanceRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
      }),
    ],
  };
  const launchTask = (id: string, spot: boolean) => {
    const task = new tasks.CallAwsService(scope, id, {
      comment: 'Request-response RunInstances: the instance ID goes into the state so every later path can terminate it',
      service: 'ec2',
      action: 'runInstances',
      parameters: launchParameters(spot),
      ...launchIam,
      resultSelector: { 'InstanceId.$': '$.Instances[0].InstanceId' },
      resultPath: '$.instance',
      taskTimeout: sfn.Timeout.duration(Duration.minutes(2)),
    });
    // Capacity and throttling errors are worth another try; the client token makes a retry return the
    // instance of an earlier try that did launch instead of starting a second one.
    task.addRetry({
      errors: [...LAUNCH_RETRY_ERRORS],
      interval: Duration.seconds(5),
      backoffRate: 2,
      maxAttempts: 3,
      jitterStrategy: sfn.JitterType.FULL,
    });
    return task;
  };
  // On-Demand unless Spot is on; with Spot, On-Demand only for the last of several attempts (if asked).
  const onDemandToo = !o.spot || (o.spot.onDemandOnLastAttempt && o.maxAttempts > 1);
  const launch = onDemandToo ? launchTask(STATES.LAUNCH, false) : undefined;
  const launchSpot = o.spot ? launchTask(STATES.LAUNCH_SPOT, true) : undefined;
  const chooseMarket: sfn.IChainable =
    launch && launchSpot
      ? new sfn.Choice(scope, STATES.SPOT_OR_ON_DEMAND)
        .when(sfn.Condition.numberGreaterThanEquals('$.attempt', o.maxAttempts), launch)
        .otherwise(launchSpot)
      : (launch ?? launchSpot)!;

  // Capacity is per AZ: when a subnet's AZ has none left, try the next subnet before giving up.
  const nextSubnet = new sfn.Pass(scope, STATES.NEXT_SUBNET, {
    comment: 'A fresh client token: this is a new launch, in another subnet',
    parameters: {
      'InstanceId': 'none',
      'ClientToken.$': 'States.UUID()',
      'SubnetIndex.$': 'States.MathAdd($.instance.SubnetIndex, 1)',
    },
    resultPath: '$.instance',
  }).next(chooseMarket);
  const capacityShort = sfn.Condition.or(
    sfn.Condition.stringEquals('$.launchError.Error', 'Ec2.InsufficientInstanceCapacityException'),
    sfn.Condition.stringMatches('$.launchError.Cause', '*InsufficientInstanceCapacity*'),
    sfn.Condition.stringMatches('$.launchError.Cause', '*Unsupported*'),
    sfn.Condition.stringMatches('$.launchError.Cause', '*SpotMaxPriceTooLow*'),
    sfn.Condition.stringMatches('$.launchError.Cause', '*MaxSpotInstanceCountExceeded*'),
  );
  // Only a launch that failed in every subnet becomes the attempt's error ($.error is what later states test).
  const launchGaveUp = new sfn.Pass(scope, STATES.LAUNCH_GAVE_UP, {
    parameters: { 'Error.$': '$.launchError.Error', 'Cause.$': '$.launchError.Cause' },
    resultPath: '$.error',
  });
  const launchFailed = new sfn.Choice(scope, STATES.LAUNCH_FAILED)
    .when(sfn.Condition.and(capacityShort, sfn.Condition.numberLessThan('$.instance.SubnetIndex', o.subnetIds.length - 1)), nextSubnet)
    .otherwise(launchGaveUp);
  for (const l of [launch, launchSpot]) l?.addCatch(launchFailed, { errors: [sfn.Errors.ALL], resultPath: '$.launchError' });

  // ---- Pause for Job Completion ---------------------------------------------------------------
  const taskFields = {
    executionArn: sfn.JsonPath.executionId,
    executionName: sfn.JsonPath.executionName,
    script: sfn.JsonPath.stringAt('$.script'),
    userInput: sfn.JsonPath.stringAt('$.userInput'),
    args: sfn.JsonPath.listAt('$.args'),
    env: sfn.JsonPath.objectAt('$.env'),
    attempt: sfn.JsonPath.numberAt('$.attempt'),
    heartbeatSeconds: o.heartbeatTimeout.toSeconds(),
  };
  let pause: sfn.TaskStateBase;
  if (o.activity) {
    // Activity mode (seed compatible): the task names its instance; a worker that draws another
    // instance's task hands it over through the bucket (see the heartbeat runtime).
    pause = new tasks.StepFunctionsInvokeActivity(scope, STATES.PAUSE, {
      comment: 'Schedules an activity task naming this execution\'s instance, then waits for the job to report',
      activity: o.activity,
      parameters: { instanceId: sfn.JsonPath.stringAt('$.instance.InstanceId'), ...taskFields },
      heartbeatTimeout: sfn.Timeout.duration(o.heartbeatTimeout),
      taskTimeout: sfn.Timeout.duration(o.jobTimeout),
      resultPath: '$.job',
    });
  } else {
    // The per-execution task token goes into an object only this instance's role session can read
    // (the object's owner tag must equal the reader's aws:userid, "<RoleId>:<InstanceId>").
    pause = new tasks.CallAwsService(scope, STATES.PAUSE, {
      comment: 'Hands this execution\'s task token to its own instance, then waits for the job to report',
      service: 's3',
      action: 'putObject',
      integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
      parameters: {
        Bucket: o.bucket.bucketName,
        Key: sfn.JsonPath.format(`${TASKS_PREFIX}{}.json`, sfn.JsonPath.stringAt('$.instance.InstanceId')),
        ContentType: 'application/json',
        Tagging: sfn.JsonPath.format(`${OWNER_TAG}={}:{}`, o.instanceRoleId, sfn.JsonPath.stringAt('$.instance.InstanceId')),
        Body: { taskToken: sfn.JsonPath.taskToken, ...taskFields },
      },
      iamAction: 's3:PutObject',
      iamResources: [o.bucket.arnForObjects(`${TASKS_PREFIX}*`)],
      additionalIamStatements: [
        new iam.PolicyStatement({ actions: ['s3:PutObjectTagging'], resources: [o.bucket.arnForObjects(`${TASKS_PREFIX}*`)] }),
      ],
      heartbeatTimeout: sfn.Timeout.duration(o.heartbeatTimeout),
      taskTimeout: sfn.Timeout.duration(o.jobTimeout),
      resultPath: '$.job',
    });
  }

  // ---- Terminate, then report -----------------------------------------------------------------
  const terminate = terminateInstancesState(scope, STATES.TERMINATE, 'States.Array($.instance.InstanceId)');
  const terminateFailed = new sfn.Pass(scope, STATES.TERMINATE_FAILED, {
    parameters: {
      Error: TERMINATE_FAILED_ERROR,
      Cause: sfn.JsonPath.format(
        'Instance {} could not be terminated ({}); it powers itself off at its hard cap. Check it in the EC2 console.',
        sfn.JsonPath.stringAt('$.instance.InstanceId'),
        sfn.JsonPath.stringAt('$.terminateError.Cause'),
      ),
    },
    resultPath: '$.error',
  });
  terminate.addCatch(terminateFailed, { errors: [sfn.Errors.ALL], resultPath: '$.terminateError' });
  const policies = [terminateTaggedInstancesPolicy(scope, o.pipelineId)];

  // ---- Attempts -------------------------------------------------------------------------------
  // A failed attempt has terminated its instance (or never had one); the next attempt launches a fresh one.
  // An instance that could not be terminated ends the run: starting another would only add to the problem.
  let tryAgain: sfn.IChainable = onFailure;
  if (o.maxAttempts > 1) {
    const nextAttempt = new sfn.Pass(scope, STATES.NEXT_ATTEMPT, {
      comment: 'Keeps the input; a fresh instance; remembers why the previous attempt failed',
      parameters: { ...attemptState('States.MathAdd($.attempt, 1)'), 'previousError.$': '$.error' },
    }).next(chooseMarket);
    tryAgain = new sfn.Choice(scope, STATES.TRY_AGAIN)
      .when(
        sfn.Condition.and(
          sfn.Condition.numberLessThan('$.attempt', o.maxAttempts),
          sfn.Condition.not(sfn.Condition.stringEquals('$.error.Error', TERMINATE_FAILED_ERROR)),
        ),
        new sfn.Wait(scope, STATES.WAIT_BEFORE_RETRY, { time: sfn.WaitTime.duration(o.retryDelay) }).next(nextAttempt),
      )
      .otherwise(onFailure);
  }
  launchGaveUp.next(tryAgain);
  terminateFailed.next(tryAgain);

  const didSucceed = new sfn.Choice(scope, STATES.DID_JOB_SUCCEED).when(sfn.Condition.isPresent('$.error'), tryAgain).otherwise(onSuccess);

  pause.addCatch(terminate, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
  prepare.next(
    new sfn.Choice(scope, STATES.SCRIPT_OR_USER_INPUT)
      .when(sfn.Condition.stringEquals('$.script', ''), chooseMarket)
      .otherwise(checkScript.next(chooseMarket)),
  );
  launch?.next(pause);
  launchSpot?.next(pause);
  pause.next(terminate);
  terminate.next(didSucceed);

  return { definition: validation, policies };
}

/** The error of a run whose instance could not be terminated. */
export const TERMINATE_FAILED_ERROR = 'Terminate.Failed';
