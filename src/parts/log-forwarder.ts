import * as path from 'path';
import { CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { LOG_FORWARDER_ENV, RUNS_PREFIX } from '../protocol';

/** Where `npx projen bundle` writes the log forwarder (src/log-forwarder); the npm package ships it. */
export const LOG_FORWARDER_ASSET_DIR = path.join(__dirname, '..', '..', 'assets', 'log-forwarder', 'index');

/** Options of `buildLogForwarder`. */
export interface LogForwarderOptions {
  /**
   * How long the function's own log group keeps its records (one START/END/REPORT per run, and the error of a
   * failed invocation; never job output).
   *
   * @default logs.RetentionDays.THREE_MONTHS (as the state machine's log group)
   */
  readonly functionLogRetention?: logs.RetentionDays;
}

/**
 * Creates the log forwarder (construct id `LogForwarder` under `scope`): the Lambda function that the run state
 * machine invokes after a job when `jobLogRetention` is set, to copy the run's log from `bucket` into one stream of
 * `logGroup`. Job instances then need no CloudWatch Logs permission at all.
 *
 * The function may read only `pipeline/runs/*` objects of `bucket` and write only streams of `logGroup` (and its own
 * log group); it refuses input naming another bucket or log group (`LOG_FORWARDER_ENV`). Invoke it with a
 * `LogForwarderInput` (src/protocol), e.g. from a `tasks.LambdaInvoke` whose `payload` is that object; it answers a
 * `LogForwarderResult` and fails with the names in `LOG_FORWARDER_ERRORS`.
 *
 * Runtime: Node.js 24 on arm64, 256 MB, 1-minute timeout. The handler reads at most 4 MiB of a log and makes at most
 * about 16 PutLogEvents calls (src/log-forwarder/limits.ts). With 256 MB (about 0.15 vCPU: 1,769 MB is one vCPU,
 * https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html), the CPU time measured locally scales to about
 * 2 s billed for a typical 100 KB log when cold and 0.5 s warm (src/log-forwarder/README.md), and the worst case stays
 * well under the minute. Node.js 24 is the newest Node.js runtime aws-cdk-lib
 * 2.257 knows, so cdk-nag's AwsSolutions-L1 (latest runtime) holds, and it is supported longest
 * (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html); the handler is async, as Node.js 24 requires.
 */
export function buildLogForwarder(
  scope: Construct,
  bucket: s3.IBucket,
  logGroup: logs.ILogGroup,
  options: LogForwarderOptions = {},
): lambda.Function {
  const root = new Construct(scope, 'LogForwarder');

  const functionLogs = new logs.LogGroup(root, 'Logs', {
    retention: options.functionLogRetention ?? logs.RetentionDays.THREE_MONTHS,
    removalPolicy: RemovalPolicy.DESTROY,
  });

  // An explicit role with exactly these statements: the managed AWSLambdaBasicExecutionRole would let the function
  // create log groups and write to any of them.
  const role = new iam.Role(root, 'Role', {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: 'Shell script pipeline log forwarder: reads run logs from the job bucket, writes them to the job log group',
  });
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    sid: 'ReadRunLogs',
    actions: ['s3:GetObject'],
    resources: [bucket.arnForObjects(`${RUNS_PREFIX}*`)],
  }));
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    sid: 'WriteJobLogStreams',
    actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    resources: [logGroup.logGroupArn],
  }));
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    sid: 'WriteOwnLogs',
    actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    resources: [functionLogs.logGroupArn],
  }));

  const fn = new lambda.Function(root, 'Function', {
    description: 'Shell script pipeline: copies a run log from the job bucket into the job log group',
    runtime: lambda.Runtime.NODEJS_24_X,
    architecture: lambda.Architecture.ARM_64,
    memorySize: 256,
    timeout: Duration.minutes(1),
    handler: 'index.handler',
    code: lambda.Code.fromAsset(LOG_FORWARDER_ASSET_DIR),
    role,
    logGroup: functionLogs,
    environment: {
      [LOG_FORWARDER_ENV.BUCKET]: bucket.bucketName,
      [LOG_FORWARDER_ENV.LOG_GROUP]: logGroup.logGroupName,
    },
  });
  // CloudFormation must not create the function before its role may write its logs.
  fn.node.addDependency(role);

  acknowledgeNagFindings(role, bucket);
  return fn;
}

/**
 * Records, next to the role's policy, why its one cdk-nag AwsSolutions finding is by design (cdk-nag 3 reads
 * acknowledgements written by aws-cdk-lib's Validations API, so the library does not depend on cdk-nag). The log group
 * grants are not findings: a log group's `Arn` attribute already ends in `:*`, the streams of that one group.
 */
function acknowledgeNagFindings(role: iam.Role, bucket: s3.IBucket): void {
  const cfnBucket = bucket.node.defaultChild;
  // cdk-nag names a resource by the logical ID its ARN comes from; an imported bucket is acknowledged by its user.
  if (!(cfnBucket instanceof CfnElement)) return;
  Validations.of(role.node.tryFindChild('DefaultPolicy')!).acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${Stack.of(role).getLogicalId(cfnBucket)}.Arn>/${RUNS_PREFIX}*]`,
    reason:
      'The log forwarder reads run logs, pipeline/runs/<instance>/<execution>/output.log, whose names are not known when the policy is ' +
      'written; it may read nothing else in the job bucket, and the handler refuses any other key.',
  });
}
