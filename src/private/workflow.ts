import { ArnFormat, Aws, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { INPUT_ERRORS, INSTANCE_TAGS, OWNER_TAG, RESERVED_PREFIX, RUNS_PREFIX, TASKS_PREFIX } from './protocol';

/** The state names users see in the console and in the execution history. Part of the API: do not rename. */
export const STATES = {
  VALIDATE_INPUT: 'Validate input',
  DEFAULT_ARGS: 'Default args',
  CHECK_ARGS: 'Check args',
  CHECK_ARG: 'Check arg',
  ARG_OK: 'Arg is a string',
  ARG_NOT_STRING: 'Arg is not a string',
  INVALID_ARGS: 'Invalid args',
  MISSING_SCRIPT: 'Missing script',
  RESERVED_KEY: 'Reserved script key',
  CHECK_SCRIPT: 'Check script exists',
  SCRIPT_NOT_FOUND: 'Script not found',
  COUNT_FIELDS: 'Collect fields',
  COUNT_FIELDS_2: 'Count fields',
  KNOWN_FIELDS_ONLY: 'Known fields only?',
  UNKNOWN_FIELDS: 'Unknown fields',
  COUNT_ARGS: 'Count args',
  ARGS_NOT_TOO_MANY: 'Not too many args?',
  TOO_MANY_ARGS: 'Too many args',
  ARGS_AS_JSON: 'Args as JSON',
  ARGS_IS_LIST: 'Args is a list?',
  SUBNETS: 'Subnets',
  PREPARE: 'Prepare run',
  LAUNCH: 'Launch instance',
  PAUSE: 'Pause for Job Completion',
  LAUNCH_FAILED: 'Launch failed',
  NEXT_SUBNET: 'Try the next subnet',
  LAUNCH_GAVE_UP: 'Launch gave up',
  TERMINATE: 'Terminate instance',
  TERMINATE_FAILED: 'Terminate failed',
  DID_JOB_SUCCEED: 'Did the job succeed?',
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

/** Most arguments one execution may pass to its script. */
export const MAX_ARGS = 1000;

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
}

/**
 * Builds the run's state machine definition:
 *
 *   Validate input → Check args → Check script exists → Prepare run → Launch instance → Pause for Job Completion
 *     → Terminate instance → Did the job succeed? → Notify success → Succeeded
 *                                                  → Notify failure → Failed
 *
 * Bad input goes straight to Notify failure → Failed before anything is launched. A launch that fails
 * goes to Notify failure (there is nothing to terminate). Every failure after the launch goes through
 * Terminate instance first, so no path leaves the instance running.
 */
/** The definition plus the IAM statements its custom states need on the state machine role. */
export interface Workflow {
  readonly definition: sfn.IChainable;
  readonly policies: iam.PolicyStatement[];
}

export function buildWorkflow(scope: Construct, o: WorkflowOptions): Workflow {
  const stack = Stack.of(scope);
  const ec2Arn = (resource: string, name: string) =>
    stack.formatArn({ service: 'ec2', resource, resourceName: name, arnFormat: ArnFormat.SLASH_RESOURCE_NAME });

  const failed = new sfn.Fail(scope, STATES.FAILED, {
    comment: 'The run failed; error and cause say why (the instance, if any, is already terminated).',
    errorPath: '$.error.Error',
    causePath: '$.error.Cause',
  });
  const notifyFailure = new tasks.SnsPublish(scope, STATES.NOTIFY_FAILURE, {
    topic: o.topic,
    subject: sfn.JsonPath.format('FAILED: {}', sfn.JsonPath.executionName),
    message: sfn.TaskInput.fromObject({
      status: 'FAILED',
      pipeline: o.pipelineId,
      execution: sfn.JsonPath.executionName,
      executionArn: sfn.JsonPath.executionId,
      instanceId: sfn.JsonPath.stringAt('$.instance.InstanceId'),
      error: sfn.JsonPath.stringAt('$.error.Error'),
      cause: sfn.JsonPath.stringAt('$.error.Cause'),
    }),
    resultPath: sfn.JsonPath.DISCARD,
  });
  notifyFailure.next(failed);

  // Input errors replace the whole state: the input may not even be an object.
  const inputError = (id: string, error: string, cause: string) =>
    new sfn.Pass(scope, id, {
      parameters: { error: { Error: error, Cause: cause }, instance: { InstanceId: 'none' } },
    }).next(notifyFailure);

  // ---- Validate input -------------------------------------------------------------------------
  const subnetsPass = new sfn.Pass(scope, STATES.SUBNETS, {
    comment: 'The subnets to launch in, in order of preference',
    result: sfn.Result.fromArray(o.subnetIds),
    resultPath: '$.subnets',
  });
  const prepare = new sfn.Pass(scope, STATES.PREPARE, {
    comment: 'Input is valid. No instance yet; the client token makes launch retries idempotent',
    parameters: { 'InstanceId': 'none', 'ClientToken.$': 'States.UUID()', 'SubnetIndex': 0 },
    resultPath: '$.instance',
  });

  const missingScript = inputError(
    STATES.MISSING_SCRIPT,
    INPUT_ERRORS.MISSING_SCRIPT,
    'The execution input needs "script": the key of a shell script in the job bucket, e.g. {"script": "jobs/nightly.sh", "args": ["2026-01-01"]}',
  );
  const reservedKey = inputError(
    STATES.RESERVED_KEY,
    INPUT_ERRORS.RESERVED_KEY,
    `"script" must not be under "${RESERVED_PREFIX}", start with "/" or contain "..": that part of the bucket belongs to the pipeline`,
  );
  const invalidArgs = inputError(
    STATES.INVALID_ARGS,
    INPUT_ERRORS.INVALID_ARGS,
    '"args" must be a list of strings, e.g. ["--date", "2026-01-01"]',
  );

  const unknownFields = inputError(
    STATES.UNKNOWN_FIELDS,
    INPUT_ERRORS.UNKNOWN_FIELDS,
    'The execution input accepts only "script" and "args"; remove the other fields (a misspelt field would otherwise be ignored)',
  );
  const tooManyArgs = inputError(STATES.TOO_MANY_ARGS, INPUT_ERRORS.TOO_MANY_ARGS, `"args" may hold at most ${MAX_ARGS} strings`);
  const countFields = new sfn.Pass(scope, STATES.COUNT_FIELDS, {
    parameters: { 'values.$': '$.*' },
    resultPath: '$.fieldCheck',
  });

  const checkArgs = new sfn.Map(scope, STATES.CHECK_ARGS, {
    comment: 'Fails unless every element of args is a string',
    itemsPath: '$.args',
    maxConcurrency: 1,
    resultPath: sfn.JsonPath.DISCARD,
  });
  checkArgs.itemProcessor(
    new sfn.Choice(scope, STATES.CHECK_ARG)
      .when(sfn.Condition.isString('$'), new sfn.Pass(scope, STATES.ARG_OK))
      .otherwise(new sfn.Fail(scope, STATES.ARG_NOT_STRING, { error: INPUT_ERRORS.INVALID_ARGS, cause: 'an arg is not a string' })),
  );
  checkArgs.addCatch(invalidArgs, { errors: [sfn.Errors.ALL], resultPath: '$.error' });

  // Choice rules cannot tell a list from an object, but the list's JSON text starts with "[".
  const argsAsJson = new sfn.Pass(scope, STATES.ARGS_AS_JSON, {
    parameters: { 'json.$': 'States.JsonToString($.args)' },
    resultPath: '$.argsCheck',
  }).next(
    new sfn.Choice(scope, STATES.ARGS_IS_LIST)
      .when(
        sfn.Condition.stringMatches('$.argsCheck.json', '[*'),
        new sfn.Pass(scope, STATES.COUNT_ARGS, { parameters: { 'count.$': 'States.ArrayLength($.args)' }, resultPath: '$.argsCheck' }).next(
          new sfn.Choice(scope, STATES.ARGS_NOT_TOO_MANY)
            .when(sfn.Condition.numberGreaterThan('$.argsCheck.count', MAX_ARGS), tooManyArgs)
            .otherwise(checkArgs),
        ),
      )
      .otherwise(invalidArgs),
  );

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
  }).next(notifyFailure);

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
  const launch = new tasks.CallAwsService(scope, STATES.LAUNCH, {
    comment: 'Request-response RunInstances: the instance ID goes into the state so every later path can terminate it',
    service: 'ec2',
    action: 'runInstances',
    parameters: {
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
    },
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
    resultSelector: { 'InstanceId.$': '$.Instances[0].InstanceId' },
    resultPath: '$.instance',
    taskTimeout: sfn.Timeout.duration(Duration.minutes(2)),
  });
  // Capacity and throttling errors are worth another try; the client token makes a retry return the
  // instance of an earlier attempt that did launch instead of starting a second one.
  launch.addRetry({
    errors: [...LAUNCH_RETRY_ERRORS],
    interval: Duration.seconds(5),
    backoffRate: 2,
    maxAttempts: 3,
    jitterStrategy: sfn.JitterType.FULL,
  });
  // Capacity is per AZ: when a subnet's AZ has none left, try the next subnet before giving up.
  const nextSubnet = new sfn.Pass(scope, STATES.NEXT_SUBNET, {
    comment: 'A fresh client token: this is a new launch, in another subnet',
    parameters: {
      'InstanceId': 'none',
      'ClientToken.$': 'States.UUID()',
      'SubnetIndex.$': 'States.MathAdd($.instance.SubnetIndex, 1)',
    },
    resultPath: '$.instance',
  }).next(launch);
  const capacityShort = sfn.Condition.or(
    sfn.Condition.stringEquals('$.launchError.Error', 'Ec2.InsufficientInstanceCapacityException'),
    sfn.Condition.stringMatches('$.launchError.Cause', '*InsufficientInstanceCapacity*'),
    sfn.Condition.stringMatches('$.launchError.Cause', '*Unsupported*'),
  );
  // Only a launch that failed for good becomes the run's error ($.error is what later states test).
  const launchGaveUp = new sfn.Pass(scope, STATES.LAUNCH_GAVE_UP, {
    parameters: { 'Error.$': '$.launchError.Error', 'Cause.$': '$.launchError.Cause' },
    resultPath: '$.error',
  }).next(notifyFailure);
  const launchFailed = new sfn.Choice(scope, STATES.LAUNCH_FAILED)
    .when(sfn.Condition.and(capacityShort, sfn.Condition.numberLessThan('$.instance.SubnetIndex', o.subnetIds.length - 1)), nextSubnet)
    .otherwise(launchGaveUp);
  launch.addCatch(launchFailed, { errors: [sfn.Errors.ALL], resultPath: '$.launchError' });

  // ---- Pause for Job Completion ---------------------------------------------------------------
  // The per-execution task token goes into an object only this instance's role session can read
  // (the object's owner tag must equal the reader's aws:userid, "<RoleId>:<InstanceId>").
  const ownerTag = sfn.JsonPath.format(`${OWNER_TAG}={}:{}`, o.instanceRoleId, sfn.JsonPath.stringAt('$.instance.InstanceId'));
  const pause = new tasks.CallAwsService(scope, STATES.PAUSE, {
    comment: 'Hands this execution\'s task token to its own instance, then waits for the job to report',
    service: 's3',
    action: 'putObject',
    integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
    parameters: {
      Bucket: o.bucket.bucketName,
      Key: sfn.JsonPath.format(`${TASKS_PREFIX}{}.json`, sfn.JsonPath.stringAt('$.instance.InstanceId')),
      ContentType: 'application/json',
      Tagging: ownerTag,
      Body: {
        taskToken: sfn.JsonPath.taskToken,
        executionArn: sfn.JsonPath.executionId,
        executionName: sfn.JsonPath.executionName,
        script: sfn.JsonPath.stringAt('$.script'),
        args: sfn.JsonPath.listAt('$.args'),
        heartbeatSeconds: o.heartbeatTimeout.toSeconds(),
      },
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

  // ---- Terminate, then report -----------------------------------------------------------------
  // A custom state so its IAM statement can carry the tag condition: TerminateInstances is only
  // allowed on instances this pipeline tagged (CallAwsService would add an unconditioned statement).
  const terminate = new sfn.CustomState(scope, STATES.TERMINATE, {
    stateJson: {
      Type: 'Task',
      Resource: `arn:${Aws.PARTITION}:states:::aws-sdk:ec2:terminateInstances`,
      Parameters: { 'InstanceIds.$': 'States.Array($.instance.InstanceId)' },
      ResultPath: null,
    },
  });
  // Terminating is retried until it sticks; an instance that is already gone counts as terminated.
  terminate.addRetry({
    errors: [sfn.Errors.ALL],
    interval: Duration.seconds(2),
    backoffRate: 2,
    maxAttempts: 8,
    maxDelay: Duration.seconds(60),
    jitterStrategy: sfn.JitterType.FULL,
  });
  const terminateFailed = new sfn.Pass(scope, STATES.TERMINATE_FAILED, {
    parameters: {
      Error: 'Terminate.Failed',
      Cause: sfn.JsonPath.format(
        'Instance {} could not be terminated ({}); it powers itself off at its hard cap. Check it in the EC2 console.',
        sfn.JsonPath.stringAt('$.instance.InstanceId'),
        sfn.JsonPath.stringAt('$.terminateError.Cause'),
      ),
    },
    resultPath: '$.error',
  });
  terminate.addCatch(terminateFailed, { errors: [sfn.Errors.ALL], resultPath: '$.terminateError' });
  const policies = [
    new iam.PolicyStatement({
      actions: ['ec2:TerminateInstances'],
      resources: [ec2Arn('instance', '*')],
      conditions: { StringEquals: { [`aws:ResourceTag/${INSTANCE_TAGS.PIPELINE}`]: o.pipelineId } },
    }),
  ];

  const notifySuccess = new tasks.SnsPublish(scope, STATES.NOTIFY_SUCCESS, {
    topic: o.topic,
    subject: sfn.JsonPath.format('SUCCEEDED: {}', sfn.JsonPath.executionName),
    message: sfn.TaskInput.fromObject({
      status: 'SUCCEEDED',
      pipeline: o.pipelineId,
      execution: sfn.JsonPath.executionName,
      executionArn: sfn.JsonPath.executionId,
      instanceId: sfn.JsonPath.stringAt('$.instance.InstanceId'),
      job: sfn.JsonPath.objectAt('$.job'),
      log: sfn.JsonPath.format(
        `s3://${o.bucket.bucketName}/${RUNS_PREFIX}{}/${o.instanceRoleId}:{}/output.log`,
        sfn.JsonPath.executionName,
        sfn.JsonPath.stringAt('$.instance.InstanceId'),
      ),
    }),
    resultPath: sfn.JsonPath.DISCARD,
  });

  const didSucceed = new sfn.Choice(scope, STATES.DID_JOB_SUCCEED)
    .when(sfn.Condition.isPresent('$.error'), notifyFailure)
    .otherwise(notifySuccess.next(new sfn.Succeed(scope, STATES.SUCCEEDED)));

  pause.addCatch(terminate, { errors: [sfn.Errors.ALL], resultPath: '$.error' });

  const validate = new sfn.Choice(scope, STATES.VALIDATE_INPUT, {
    comment: 'Execution input: {"script": "<key in the job bucket>", "args": ["..."]}',
  })
    .when(sfn.Condition.not(sfn.Condition.and(sfn.Condition.isPresent('$.script'), sfn.Condition.isString('$.script'))), missingScript)
    .when(
      sfn.Condition.or(
        sfn.Condition.stringEquals('$.script', ''),
        sfn.Condition.stringMatches('$.script', `${RESERVED_PREFIX}*`),
        sfn.Condition.stringMatches('$.script', '/*'),
        sfn.Condition.stringMatches('$.script', '*..*'),
      ),
      reservedKey,
    )
    .otherwise(countFields);

  // Choice rules cannot list an object's keys, but "$.*" collects its values: count them.
  countFields
    .next(new sfn.Pass(scope, STATES.COUNT_FIELDS_2, { parameters: { 'count.$': 'States.ArrayLength($.fieldCheck.values)' }, resultPath: '$.fieldCheck' }))
    .next(
      new sfn.Choice(scope, STATES.KNOWN_FIELDS_ONLY)
        .when(
          sfn.Condition.or(
            sfn.Condition.and(sfn.Condition.isPresent('$.args'), sfn.Condition.numberGreaterThan('$.fieldCheck.count', 2)),
            sfn.Condition.and(sfn.Condition.not(sfn.Condition.isPresent('$.args')), sfn.Condition.numberGreaterThan('$.fieldCheck.count', 1)),
          ),
          unknownFields,
        )
        .when(
          // Not(IsPresent) rather than IsPresent:false, which some ASL interpreters get wrong.
          sfn.Condition.not(sfn.Condition.isPresent('$.args')),
          new sfn.Pass(scope, STATES.DEFAULT_ARGS, { result: sfn.Result.fromArray([]), resultPath: '$.args' }).next(checkArgs),
        )
        .otherwise(argsAsJson),
    );

  checkArgs.next(subnetsPass);
  prepare.next(checkScript);
  checkScript.next(launch);
  subnetsPass.next(prepare);
  launch.next(pause);
  pause.next(terminate);
  terminate.next(didSucceed);
  terminateFailed.next(notifyFailure);

  return { definition: validate, policies };
}
