/**
 * The Data Pipeline parity props, read from the synthesized template: each prop, and what its default leaves out.
 * (How the definition behaves with them is in parity.test.ts; the bootstrap run in a sandbox is in bootstrap.test.ts.)
 */
import * as path from 'path';
import { Duration, TimeZone } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import { ShellScriptPipelineProps, TaskHandoff } from '../src';
import { definitionOf, resolveIntrinsics, synth, Synthesized } from './support/template';
import { STATES } from '../src/workflow/states';

const SCRIPTS = path.join(__dirname, 'fixtures', 'scripts');
const MY_TOPIC_ARN = 'arn:aws:sns:eu-west-1:111111111111:my-notifications';

// ---- helpers ---------------------------------------------------------------------------------------

/** Synthesizes once, on first use, so a failing synth fails the tests that need it rather than the whole file. */
function lazySynth(props: ShellScriptPipelineProps, configure?: Parameters<typeof synth>[1]): () => Synthesized {
  let s: Synthesized | undefined;
  return () => (s ??= synth(props, configure));
}

/** The CloudFormation value of a construct attribute, e.g. `{ Ref: '<LogicalId>' }`. */
function cfn(s: Synthesized, token: unknown): any {
  return s.stack.resolve(token);
}

/** Logical ID behind an attribute that resolves to a `Ref`. */
function refId(s: Synthesized, token: unknown): string {
  const ref = cfn(s, token).Ref;
  expect(typeof ref).toBe('string');
  return ref;
}

/** The run state machine's definition as the service sees it. */
function runDefinitionOf(s: Synthesized): any {
  const id = refId(s, s.pipeline.stateMachine.stateMachineArn);
  return definitionOf(s.json, (logicalId) => logicalId === id);
}

/** The bootstrap that 'Launch instance' hands to EC2, decoded. */
function userDataOf(s: Synthesized): string {
  const launch = runDefinitionOf(s).States[STATES.LAUNCH];
  expect(launch).toBeDefined();
  return Buffer.from(launch.Parameters.UserData, 'base64').toString('utf8');
}

/** Every statement of the identity policies attached to `role`, as in the template (Action and Resource as lists). */
function statementsOf(s: Synthesized, role: iam.IRole): any[] {
  const policies = s.template.findResources('AWS::IAM::Policy', {
    Properties: { Roles: Match.arrayWith([cfn(s, role.roleName)]) },
  });
  return Object.values<any>(policies)
    .flatMap((p) => p.Properties.PolicyDocument.Statement)
    .map((st) => ({ ...st, Action: [].concat(st.Action ?? []), Resource: [].concat(st.Resource ?? []) }));
}

const allows = (st: any, prefix: string) => st.Effect === 'Allow' && st.Action.some((a: string) => a.startsWith(prefix));

/** The resources of every Allow statement on `role` that grants `action`, with intrinsics resolved to stand-ins. */
function resourcesAllowed(s: Synthesized, role: iam.IRole, action: string): string[] {
  const statements = statementsOf(s, role).filter((st) => st.Effect === 'Allow' && st.Action.includes(action));
  return resolveIntrinsics(statements.flatMap((st) => st.Resource), s.json.Resources).sort();
}

/** The lines of the bootstrap between `cat > "$WORK/<file>" <<'<MARK>'` and `<MARK>`: a file it writes. */
function heredoc(script: string, file: string, mark: string): string {
  const start = script.indexOf(`cat > "$WORK/${file}" <<'${mark}'\n`);
  expect(start).toBeGreaterThanOrEqual(0);
  const body = script.slice(script.indexOf('\n', start) + 1);
  return body.slice(0, body.indexOf(`\n${mark}\n`));
}

const defaults = lazySynth({});

// ---- schedule --------------------------------------------------------------------------------------------

describe('schedule', () => {
  const nightly = lazySynth({
    schedule: {
      expression: scheduler.ScheduleExpression.cron({ hour: '2', minute: '0', timeZone: TimeZone.EUROPE_LONDON }),
      input: { script: 'jobs/nightly.sh', args: ['--full'] },
    },
  });
  const sixHourly = lazySynth({
    schedule: {
      expression: scheduler.ScheduleExpression.rate(Duration.hours(6)),
      input: { userInput: 'echo hello', env: { STAGE: 'prod' } },
      enabled: false,
    },
  });

  function scheduleOf(s: Synthesized): any {
    const schedules = Object.values<any>(s.template.findResources('AWS::Scheduler::Schedule'));
    expect(schedules).toHaveLength(1);
    return schedules[0].Properties;
  }

  test('default: no schedule', () => {
    defaults().template.resourceCountIs('AWS::Scheduler::Schedule', 0);
    expect(defaults().pipeline.schedule).toBeUndefined();
  });

  test('a cron expression with a time zone, enabled by default, starting this state machine', () => {
    const s = nightly();
    s.template.resourceCountIs('AWS::Scheduler::Schedule', 1);
    s.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 2 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/London',
      State: 'ENABLED',
      Target: Match.objectLike({ Arn: cfn(s, s.pipeline.stateMachine.stateMachineArn) }),
    });
    expect(s.pipeline.schedule).toBeDefined();
  });

  test('the input is the JSON of the given input, with only the fields that are set', () => {
    expect(JSON.parse(scheduleOf(nightly()).Target.Input)).toEqual({ script: 'jobs/nightly.sh', args: ['--full'] });
    expect(JSON.parse(scheduleOf(sixHourly()).Target.Input)).toEqual({ userInput: 'echo hello', env: { STAGE: 'prod' } });
  });

  test('a rate expression, created DISABLED with enabled: false', () => {
    const s = sixHourly();
    s.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(6 hours)',
      State: 'DISABLED',
      Target: Match.objectLike({ Arn: cfn(s, s.pipeline.stateMachine.stateMachineArn) }),
    });
  });

  test('the schedule role may only start executions of this state machine', () => {
    const s = nightly();
    const roleArn = scheduleOf(s).Target.RoleArn;
    expect(Object.keys(roleArn)).toEqual(['Fn::GetAtt']);
    const roleId: string = roleArn['Fn::GetAtt'][0];
    const role = s.json.Resources[roleId];
    expect(role.Type).toBe('AWS::IAM::Role');
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    expect(role.Properties.Policies).toBeUndefined();
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      expect.objectContaining({ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { Service: 'scheduler.amazonaws.com' } }),
    ]);
    const policies = Object.values<any>(s.template.findResources('AWS::IAM::Policy', { Properties: { Roles: Match.arrayWith([{ Ref: roleId }]) } }));
    expect(policies.flatMap((p) => p.Properties.PolicyDocument.Statement)).toEqual([
      { Effect: 'Allow', Action: 'states:StartExecution', Resource: cfn(s, s.pipeline.stateMachine.stateMachineArn) },
    ]);
  });
});

// ---- staging ---------------------------------------------------------------------------------------------

describe('staging', () => {
  const staged = lazySynth({ staging: { inputPrefixes: ['in/a', '/in/b/'], outputPrefix: 'results/' } });

  const COPY_IN = (prefix: string) =>
    `aws s3 cp --only-show-errors --recursive "s3://$BUCKET/${prefix}/" "$SSP_INPUT_DIR/${prefix}/" --exclude 'pipeline/*' ||`;
  const RUN = '"$NODE" "$WORK/heartbeat.js" run --task-file "$TASK"';

  test('the bootstrap copies each input prefix (slashes trimmed) to $SSP_INPUT_DIR/<prefix>/ before the job runs', () => {
    const lines = userDataOf(staged()).split('\n');
    const at = (line: string) => lines.indexOf(line);
    expect(at(COPY_IN('in/a'))).toBeGreaterThan(0);
    expect(at(COPY_IN('in/b'))).toBeGreaterThan(at(COPY_IN('in/a')));
    expect(at('mkdir -p "$SSP_INPUT_DIR" "$SSP_OUTPUT_DIR"')).toBeLessThan(at(COPY_IN('in/a')));
    expect(lines.findIndex((l) => l.startsWith(RUN))).toBeGreaterThan(at(COPY_IN('in/b')));
  });

  test('the bootstrap wraps the job to copy $SSP_OUTPUT_DIR to <outputPrefix>/<execution>/ after it succeeds', () => {
    const script = userDataOf(staged());
    expect(script).toContain('export SSP_OUTPUT_URL="s3://$BUCKET/results/$EXECUTION/"');
    expect(script).toMatch(/^JOB_CMD=\(\/bin\/bash "\$WORK\/run-job\.sh" "\$JOB"\)$/m);
    const wrapper = heredoc(script, 'run-job.sh', 'WRAPPER').split('\n');
    expect(wrapper.slice(0, 4)).toEqual([
      '#!/bin/bash',
      'job="$1"; shift',
      '/bin/bash "$job" "$@" || exit $?',
      'aws s3 cp --only-show-errors --recursive "$SSP_OUTPUT_DIR" "$SSP_OUTPUT_URL" ||',
    ]);
    expect(wrapper[4]).toMatch(/exit 97; }$/);
  });

  test('activity mode stages the same way', () => {
    const s = synth({ taskHandoff: TaskHandoff.ACTIVITY, staging: { inputPrefixes: ['in/a'], outputPrefix: 'results' } });
    const script = userDataOf(s);
    expect(script).toContain('heartbeat.js" claim-activity');
    expect(script.split('\n')).toContain(COPY_IN('in/a'));
    expect(script).toContain('export SSP_OUTPUT_URL="s3://$BUCKET/results/$EXECUTION/"');
    expect(script).toMatch(/^JOB_CMD=\(\/bin\/bash "\$WORK\/run-job\.sh" "\$JOB"\)$/m);
  });

  test('the instance role may put objects under <outputPrefix>/ and nowhere else it could not before', () => {
    const s = staged();
    s.template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [cfn(s, s.pipeline.instanceRole.roleName)],
      PolicyDocument: {
        Statement: Match.arrayWith([
          { Sid: 'WriteStagedOutput', Effect: 'Allow', Action: 's3:PutObject', Resource: cfn(s, s.pipeline.bucket.arnForObjects('results/*')) },
        ]),
      },
    });
    const bucket = resolveIntrinsics(cfn(s, s.pipeline.bucket.bucketArn), s.json.Resources);
    expect(resourcesAllowed(s, s.pipeline.instanceRole, 's3:PutObject')).toEqual([
      `${bucket}/pipeline/runs/*/\${aws:userid}/*`,
      `${bucket}/results/*`,
    ]);
  });

  test('default: no wrapper and no copies, but both staging directories are still created and exported', () => {
    const s = defaults();
    const script = userDataOf(s);
    const lines = script.split('\n');
    expect(lines).toContain('export SSP_INPUT_DIR="$WORK/input" SSP_OUTPUT_DIR="$WORK/output"');
    expect(lines).toContain('mkdir -p "$SSP_INPUT_DIR" "$SSP_OUTPUT_DIR"');
    expect(lines).toContain('JOB_CMD=(/bin/bash "$JOB")');
    expect(script).not.toContain('run-job.sh');
    expect(script).not.toContain('SSP_OUTPUT_URL');
    expect(script).not.toContain('"$SSP_INPUT_DIR/');
    const bucket = resolveIntrinsics(cfn(s, s.pipeline.bucket.bucketArn), s.json.Resources);
    expect(resourcesAllowed(s, s.pipeline.instanceRole, 's3:PutObject')).toEqual([`${bucket}/pipeline/runs/*/\${aws:userid}/*`]);
    expect(statementsOf(s, s.pipeline.instanceRole).filter((st) => st.Sid === 'WriteStagedOutput')).toEqual([]);
  });
});

// ---- jobLogRetention -------------------------------------------------------------------------------------

describe('jobLogRetention', () => {
  const logged = lazySynth({ jobLogRetention: logs.RetentionDays.ONE_WEEK });

  test('creates a retained log group with that retention', () => {
    const s = logged();
    expect(s.pipeline.jobLogGroup).toBeDefined();
    const id = refId(s, s.pipeline.jobLogGroup!.logGroupName);
    expect(s.json.Resources[id]).toMatchObject({ Type: 'AWS::Logs::LogGroup', Properties: { RetentionInDays: 7 }, DeletionPolicy: 'Retain' });
    s.template.hasResource('AWS::Logs::LogGroup', { Properties: { RetentionInDays: 7 }, DeletionPolicy: 'Retain' });
    s.template.resourceCountIs('AWS::Logs::LogGroup', 2);
  });

  test('the instance role may create streams in and put events to that log group only', () => {
    const s = logged();
    const logStatements = statementsOf(s, s.pipeline.instanceRole).filter((st) => st.Action.some((a: string) => a.startsWith('logs:')));
    expect(logStatements).toEqual([
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: [cfn(s, s.pipeline.jobLogGroup!.logGroupArn)],
      },
    ]);
  });

  test("the bootstrap's before-report hook sends the job's log to the group, one stream per attempt", () => {
    const s = logged();
    const script = userDataOf(s);
    const group = `ref-${refId(s, s.pipeline.jobLogGroup!.logGroupName)}`;
    expect(script).toContain(`SSP_JOB_LOG_GROUP='${group}' SSP_JOB_LOG_STREAM="$EXECUTION/$IID"`);
    const hook = heredoc(script, 'before-report.sh', 'HOOK');
    expect(hook).toContain('aws logs create-log-stream --log-group-name "$SSP_JOB_LOG_GROUP" --log-stream-name "$SSP_JOB_LOG_STREAM"');
    expect(hook).toMatch(
      /"\$NODE" -e '[^']+' "\$LOG" "\$WORK\/log-events"[^\n]*\n[^\n]*for batch in "\$WORK"\/log-events-\*\.json/,
    );
    expect(hook).toContain('aws logs put-log-events --log-group-name "$SSP_JOB_LOG_GROUP" --log-stream-name "$SSP_JOB_LOG_STREAM" --log-events "file://$batch"');
    // The log still goes to the bucket first.
    expect(hook.split('\n')[1]).toBe('aws s3 cp --only-show-errors "$LOG" "s3://$BUCKET/$RUN_PREFIX/output.log"');
  });

  test('default: no job log group, no logs permissions on the instance role, no CloudWatch Logs calls in the bootstrap', () => {
    const s = defaults();
    expect(s.pipeline.jobLogGroup).toBeUndefined();
    s.template.resourceCountIs('AWS::Logs::LogGroup', 1);
    s.template.resourcePropertiesCountIs('AWS::Logs::LogGroup', { RetentionInDays: 7 }, 0);
    expect(statementsOf(s, s.pipeline.instanceRole).filter((st) => st.Action.some((a: string) => a.startsWith('logs:')))).toEqual([]);
    const script = userDataOf(s);
    expect(script).not.toContain('aws logs');
    expect(script).not.toContain('SSP_JOB_LOG_GROUP');
  });
});

// ---- scriptsPath ------------------------------------------------------------------------------------------

describe('scriptsPath', () => {
  test("uploads the folder under 'scripts/', never pruning or deleting what is in the bucket", () => {
    const s = synth({ scriptsPath: SCRIPTS });
    expect(s.pipeline.scriptsDeployment).toBeDefined();
    s.template.resourceCountIs('Custom::CDKBucketDeployment', 1);
    s.template.hasResourceProperties('Custom::CDKBucketDeployment', {
      DestinationBucketName: cfn(s, s.pipeline.bucket.bucketName),
      DestinationBucketKeyPrefix: 'scripts/',
      Prune: false,
      RetainOnDelete: true,
    });
  });

  test('scriptsPrefix chooses where it goes', () => {
    const s = synth({ scriptsPath: SCRIPTS, scriptsPrefix: 'tools/nightly/' });
    s.template.hasResourceProperties('Custom::CDKBucketDeployment', {
      DestinationBucketName: cfn(s, s.pipeline.bucket.bucketName),
      DestinationBucketKeyPrefix: 'tools/nightly/',
      Prune: false,
      RetainOnDelete: true,
    });
  });

  test('default: nothing is uploaded', () => {
    defaults().template.resourceCountIs('Custom::CDKBucketDeployment', 0);
    expect(defaults().pipeline.scriptsDeployment).toBeUndefined();
  });
});

describe('metrics', () => {
  test.each<[string, 'metricFailed' | 'metricSucceeded' | 'metricTimedOut' | 'metricAborted']>([
    ['ExecutionsFailed', 'metricFailed'],
    ['ExecutionsSucceeded', 'metricSucceeded'],
    ['ExecutionsTimedOut', 'metricTimedOut'],
    ['ExecutionsAborted', 'metricAborted'],
  ])('%s: %s(), summed over 5 minutes, for this state machine', (name, method) => {
    const s = defaults();
    const metric = s.pipeline[method]();
    expect(metric.namespace).toBe('AWS/States');
    expect(metric.metricName).toBe(name);
    expect(metric.statistic).toBe('Sum');
    expect(metric.period.toSeconds()).toBe(300);
    expect(cfn(s, metric.dimensions)).toEqual({ StateMachineArn: cfn(s, s.pipeline.stateMachine.stateMachineArn) });
    // Options pass through.
    expect(s.pipeline[method]({ period: Duration.hours(1) }).period.toSeconds()).toBe(3600);
  });
});
