/**
 * parts/job-logs: jobLogRetention. The log group, the log forwarder the run state machine invokes after each attempt
 * ("Forward job log"), and the instance role, which gets no CloudWatch Logs permission at all. The definition runs in a
 * local ASL interpreter; the state's input is checked by the forwarder's own input parser.
 */
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { parseInput } from '../../src/log-forwarder/input';
import { LOG_FORWARDER_ENV, LOG_FORWARDER_ERRORS } from '../../src/protocol';
import { STATES } from '../../src/workflow/states';
import { awsError, runLocally } from '../support/local-sfn';
import { roleStatements, templateStatementsOf } from '../support/policies';
import { attemptHandlers, expectOutcome, fails, happyHandlers, INSTANCE, instanceFor, notifications, ok } from '../support/run-handlers';
import { definitionOf, lazySynth, refId, runMachineId, Synthesized, userDataOf, value } from '../support/template';

const defaults = lazySynth({});
const logged = lazySynth({ jobLogRetention: logs.RetentionDays.ONE_WEEK });
const loggedTwice = lazySynth({ jobLogRetention: logs.RetentionDays.ONE_WEEK, maxAttempts: 2 });

const runDefinitionOf = (s: Synthesized) => definitionOf(s.json, (id) => id === runMachineId(s));
const logsActions = (s: Synthesized) => templateStatementsOf(s, s.pipeline.instanceRole).flatMap((st) => st.Action).filter((a) => /^logs:/i.test(a));

/** The forwarder's environment, as the construct deploys it (resolved like the definition). */
const forwarderEnv = (s: Synthesized) => ({
  [LOG_FORWARDER_ENV.BUCKET]: value(s, s.pipeline.bucket.bucketName),
  [LOG_FORWARDER_ENV.LOG_GROUP]: value(s, s.pipeline.jobLogGroup!.logGroupName),
});

describe('jobLogRetention', () => {
  test('creates a retained log group with that retention, and a log forwarder told that group and the job bucket', () => {
    const s = logged();
    const id = refId(s, s.pipeline.jobLogGroup!.logGroupName);
    expect(s.json.Resources[id]).toMatchObject({ Type: 'AWS::Logs::LogGroup', Properties: { RetentionInDays: 7 }, DeletionPolicy: 'Retain' });
    s.template.resourceCountIs('AWS::Lambda::Function', 1);
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          [LOG_FORWARDER_ENV.BUCKET]: { Ref: refId(s, s.pipeline.bucket.bucketName) },
          [LOG_FORWARDER_ENV.LOG_GROUP]: { Ref: id },
        },
      },
    });
  });

  test('the instance role has no CloudWatch Logs action, with jobLogRetention or without', () => {
    expect(logsActions(logged())).toEqual([]);
    expect(logsActions(defaults())).toEqual([]);
    // The statements are read where they are written: the check above would pass on a role with no policy at all.
    expect(templateStatementsOf(logged(), logged().pipeline.instanceRole).some((st) => st.Action.includes('s3:PutObject'))).toBe(true);
  });

  test('the bootstrap makes no CloudWatch Logs call: the log goes to the bucket only', () => {
    for (const s of [logged(), defaults()]) {
      const script = userDataOf(s);
      expect(script).not.toContain('aws logs');
      expect(script).not.toContain('SSP_JOB_LOG');
      expect(script).toContain('aws s3 cp --only-show-errors "$LOG" "s3://$BUCKET/$RUN_PREFIX/output.log"');
    }
  });

  test('the state machine role may invoke the forwarder, and no other function', () => {
    const s = logged();
    const fn = s.pipeline.node.findChild('LogForwarder').node.findChild('Function') as lambda.Function;
    const arn = value(s, fn.functionArn);
    const invokes = roleStatements(s, s.pipeline.stateMachine.role).filter((st) => st.Action.some((a) => a.startsWith('lambda:')));
    expect(invokes.map((st) => [st.Action, st.Resource])).toEqual([[['lambda:InvokeFunction'], [arn, `${arn}:*`]]]);
  });
});

describe('"Forward job log" in the run state machine', () => {
  test('exists only with jobLogRetention, between Terminate instance and Did the job succeed?', () => {
    expect(runDefinitionOf(defaults()).States[STATES.FORWARD_JOB_LOG]).toBeUndefined();
    expect(runDefinitionOf(defaults()).States[STATES.TERMINATE].Next).toBe(STATES.DID_JOB_SUCCEED);
    const states = runDefinitionOf(logged()).States;
    expect(states[STATES.TERMINATE].Next).toBe(STATES.FORWARD_JOB_LOG);
    expect(states[STATES.FORWARD_JOB_LOG].Next).toBe(STATES.DID_JOB_SUCCEED);
    // Every error is caught and the run goes on to the same decision; nothing is written to $.error.
    expect(states[STATES.FORWARD_JOB_LOG].Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.jobLog', Next: STATES.DID_JOB_SUCCEED }]);
    expect(states[STATES.FORWARD_JOB_LOG].ResultPath).toBe('$.jobLog');
  });

  test("a job that succeeds: the forwarder gets this attempt's run log and stream, input its own parser accepts", async () => {
    const s = logged();
    const r = await runLocally(runDefinitionOf(s), { script: 'jobs/nightly.sh' }, {
      ...happyHandlers(),
      [STATES.FORWARD_JOB_LOG]: () => ({ logGroupName: 'g', logStreamName: `exec-1/${INSTANCE}`, logBytes: 10, events: 1, batches: 1, omittedBytes: 0 }),
    });
    expectOutcome(r, 'SUCCEEDED', { terminated: true });
    expect(r.path.slice(r.path.indexOf(STATES.PAUSE))).toEqual([
      STATES.PAUSE, STATES.TERMINATE, STATES.FORWARD_JOB_LOG, STATES.DID_JOB_SUCCEED, STATES.NOTIFY_SUCCESS, STATES.SUCCEEDED,
    ]);
    const [input] = r.calls[STATES.FORWARD_JOB_LOG];
    expect(input).toEqual({
      bucket: value(s, s.pipeline.bucket.bucketName),
      // The run folder the bootstrap writes: pipeline/runs/<execution>/<RoleId>:<InstanceId>/.
      key: `pipeline/runs/AROATESTROLEID:${INSTANCE}/exec-1/output.log`,
      logGroupName: value(s, s.pipeline.jobLogGroup!.logGroupName),
      logStreamName: `exec-1/${INSTANCE}`,
    });
    expect(parseInput(input, forwarderEnv(s))).toEqual(input);
    expect(input.logStreamName).not.toMatch(/[:*]/);
    expect(r.output.jobLog.logStreamName).toBe(`exec-1/${INSTANCE}`);
  });

  test.each([
    // Not retried: a retried invocation would append the log to the stream again.
    ['the forwarder fails (its own error)', () => awsError(LOG_FORWARDER_ERRORS.READ_FAILED, 'AccessDenied reading the log'), 1],
    // LambdaInvoke's default retry: 6 more attempts on Lambda's transient errors.
    ['Lambda keeps failing (retried, then given up)', () => awsError('Lambda.ServiceException', 'Lambda is having a bad day'), 7],
  ])('%s: the run still succeeds with the job\'s own result and notification', async (_name, error, calls) => {
    const r = await runLocally(runDefinitionOf(logged()), { script: 'jobs/nightly.sh' }, {
      ...happyHandlers(),
      [STATES.FORWARD_JOB_LOG]: () => {
        throw error();
      },
    });
    expectOutcome(r, 'SUCCEEDED', { terminated: true });
    expect(notifications(r)[0].Message.job).toEqual({ exitCode: 0, durationSeconds: 12, outputTail: 'done\n' });
    expect(r.output.error).toBeUndefined();
    expect(r.output.jobLog.Error).toBe(error().name);
    expect(r.calls[STATES.FORWARD_JOB_LOG]).toHaveLength(calls);
  });

  test("a job that fails, and the forwarder fails too: the run fails with the job's error, not the forwarder's", async () => {
    const r = await runLocally(runDefinitionOf(logged()), { script: 'jobs/nightly.sh' }, {
      ...happyHandlers(),
      [STATES.PAUSE]: () => {
        throw awsError('Job.NonZeroExit', '{"exitCode":3}');
      },
      [STATES.FORWARD_JOB_LOG]: () => {
        throw awsError(LOG_FORWARDER_ERRORS.WRITE_FAILED, 'PutLogEvents refused');
      },
    });
    expectOutcome(r, 'FAILED', { terminated: true, error: 'Job.NonZeroExit' });
    expect(r.cause).toBe('{"exitCode":3}');
    expect(r.calls[STATES.FORWARD_JOB_LOG]).toHaveLength(1);
  });

  test('every attempt forwards its own log, to its own stream', async () => {
    const r = await runLocally(runDefinitionOf(loggedTwice()), { script: 'jobs/nightly.sh' }, attemptHandlers([fails('Job.NonZeroExit'), ok], {
      [STATES.FORWARD_JOB_LOG]: (input) => ({ logStreamName: input.logStreamName }),
    }));
    expect(r.status).toBe('SUCCEEDED');
    expect(r.calls[STATES.FORWARD_JOB_LOG].map((i) => [i.key, i.logStreamName])).toEqual([
      [`pipeline/runs/AROATESTROLEID:${instanceFor(1)}/exec-1/output.log`, `exec-1/${instanceFor(1)}`],
      [`pipeline/runs/AROATESTROLEID:${instanceFor(2)}/exec-1/output.log`, `exec-1/${instanceFor(2)}`],
    ]);
  });
});
