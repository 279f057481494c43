/**
 * The run state machine (workflow/run.ts and its fragments), executed by a local ASL interpreter with every AWS call
 * faked: the good day, the job's failures, and how the state machine itself is configured.
 */
import aslValidator from 'asl-validator';
import { Duration } from 'aws-cdk-lib';
import { STATES } from '../../src/workflow/states';
import { awsError, runLocally } from '../support/local-sfn';
import { expectOutcome, happyHandlers, INSTANCE, notifications } from '../support/run-handlers';
import { runDefinition, runMachineId, synth } from '../support/template';

describe('the run workflow, executed by a local ASL interpreter', () => {
  const definition = runDefinition();

  test('is valid ASL', () => {
    const { isValid, errorsText } = aslValidator(definition);
    expect(errorsText('\n')).toBe('');
    expect(isValid).toBe(true);
  });

  test('success: launches, hands the token to its instance, terminates it, notifies SUCCEEDED', async () => {
    const r = await runLocally(definition, { script: 'jobs/nightly.sh', args: ['2026-01-01'] }, happyHandlers());
    expectOutcome(r, 'SUCCEEDED', { terminated: true });
    expect(r.path).toEqual([
      STATES.VALIDATE_INPUT,
      STATES.HAS_ARGS,
      STATES.HAS_ENV,
      STATES.DEFAULT_ENV,
      STATES.COUNT_FIELDS,
      STATES.COUNT_FIELDS_2,
      STATES.KNOWN_FIELDS_ONLY,
      STATES.RUN_KIND,
      STATES.NO_USER_INPUT,
      STATES.ARGS_AS_JSON,
      STATES.ARGS_IS_LIST,
      STATES.COUNT_ARGS,
      STATES.ARGS_NOT_TOO_MANY,
      STATES.CHECK_ARGS,
      STATES.CHECK_ARG,
      STATES.ARG_OK,
      STATES.ENV_AS_JSON,
      STATES.ENV_IS_OBJECT,
      STATES.SUBNETS,
      STATES.PREPARE,
      STATES.SCRIPT_OR_USER_INPUT,
      STATES.CHECK_SCRIPT,
      STATES.LAUNCH,
      STATES.PAUSE,
      STATES.TERMINATE,
      STATES.DID_JOB_SUCCEED,
      STATES.NOTIFY_SUCCESS,
      STATES.SUCCEEDED,
    ]);
    // The task document: this execution's token, under a key named after this instance, readable only by it.
    const [put] = r.calls[STATES.PAUSE];
    expect(put.Key).toBe(`pipeline/tasks/${INSTANCE}.json`);
    expect(put.Tagging).toBe(`ssp-owner=AROATESTROLEID:${INSTANCE}`);
    expect(put.Body).toEqual({
      taskToken: 'token-exec-1',
      executionArn: expect.stringMatching(/:execution:Pipeline:exec-1$/),
      executionName: 'exec-1',
      script: 'jobs/nightly.sh',
      userInput: '',
      args: ['2026-01-01'],
      env: {},
      attempt: 1,
      heartbeatSeconds: 300,
    });
    // The launch: the pipeline tag (what lets it be terminated), the execution tag, an idempotency token.
    const [launch] = r.calls[STATES.LAUNCH];
    expect(launch.TagSpecifications[0].Tags).toEqual(
      expect.arrayContaining([
        { Key: 'shell-script-pipeline:pipeline', Value: expect.any(String) },
        { Key: 'shell-script-pipeline:execution', Value: 'exec-1' },
      ]),
    );
    expect(launch.ClientToken).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.calls[STATES.CHECK_SCRIPT][0].Key).toBe('jobs/nightly.sh');
    const message = notifications(r)[0].Message;
    expect(message.instanceId).toBe(INSTANCE);
    expect(message.job).toEqual({ exitCode: 0, durationSeconds: 12, outputTail: 'done\n' });
    expect(message.log).toMatch(new RegExp(`/pipeline/runs/AROATESTROLEID:${INSTANCE}/exec-1/output.log$`));
    expect(r.output.job.exitCode).toBe(0);
  });

  test('args are optional and default to an empty list', async () => {
    const r = await runLocally(definition, { script: 'run.sh' }, happyHandlers());
    expectOutcome(r, 'SUCCEEDED', { terminated: true });
    expect(r.calls[STATES.PAUSE][0].Body.args).toEqual([]);
  });

  test('script exits non-zero: instance terminated, FAILED with the job error and cause', async () => {
    const cause = JSON.stringify({ exitCode: 3, durationSeconds: 4, outputTail: 'boom\n' });
    const r = await runLocally(definition, { script: 'run.sh' }, {
      ...happyHandlers(),
      [STATES.PAUSE]: () => {
        throw awsError('Job.NonZeroExit', cause);
      },
    });
    expectOutcome(r, 'FAILED', { terminated: true, error: 'Job.NonZeroExit' });
    expect(r.cause).toBe(cause);
  });

  test('heartbeat timeout (instance never reports, or stops reporting): instance terminated, FAILED', async () => {
    // The local interpreter does not implement HeartbeatSeconds, so the fake raises the error Step Functions raises.
    const r = await runLocally(definition, { script: 'run.sh' }, {
      ...happyHandlers(),
      [STATES.PAUSE]: () => {
        throw awsError('States.HeartbeatTimeout', 'no heartbeat for 300 seconds');
      },
    });
    expectOutcome(r, 'FAILED', { terminated: true, error: 'States.HeartbeatTimeout' });
  });

  test('job timeout: the interpreter times the pause out, the instance is terminated, FAILED', async () => {
    const short = runDefinition({ jobTimeout: Duration.seconds(2), heartbeatTimeout: Duration.seconds(1) });
    expect(short.States[STATES.PAUSE].TimeoutSeconds).toBe(2);
    const r = await runLocally(short, { script: 'run.sh' }, {
      ...happyHandlers(),
      [STATES.PAUSE]: () => new Promise(() => undefined), // the job never reports
    });
    expectOutcome(r, 'FAILED', { terminated: true, error: 'States.Timeout' });
  });

  test('Spot interruption reported by the job: instance terminated, FAILED with its own error name', async () => {
    const r = await runLocally(definition, { script: 'run.sh' }, {
      ...happyHandlers(),
      [STATES.PAUSE]: () => {
        throw awsError('Job.SpotInterrupted', '{"action":"terminate"}');
      },
    });
    expectOutcome(r, 'FAILED', { terminated: true, error: 'Job.SpotInterrupted' });
  });
});

test('is a STANDARD state machine with tracing and ALL-level logging without execution data', () => {
  const s = synth();
  const machine = s.json.Resources[runMachineId(s)];
  expect(machine.Type).toBe('AWS::StepFunctions::StateMachine');
  expect(machine.Properties).toEqual(
    expect.objectContaining({
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: expect.objectContaining({ Level: 'ALL', IncludeExecutionData: false }),
    }),
  );
});

test('the bootstrap reaches the launch through one definition substitution, unescaped', () => {
  const s = synth();
  const machine = s.json.Resources[runMachineId(s)];
  expect(Object.keys(machine.Properties.DefinitionSubstitutions)).toEqual(['UserData']);
  expect(Object.keys(machine.Properties.DefinitionSubstitutions.UserData)).toEqual(['Fn::Base64']);
  expect(JSON.stringify(machine.Properties.DefinitionString)).toContain('\\"UserData\\":\\"${UserData}\\"');
});
