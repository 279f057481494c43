/**
 * workflow/validation.ts: the input validation state machine (Express) and what the run pays for a run.
 *
 * Billing: "Step Functions counts a state transition each time a step of your workflow is executed. You are charged
 * for the total number of state transitions across all your state machines, including retries" (Standard), while
 * Express workflows are "charged based on the number of requests for your workflow and its duration"
 * (https://aws.amazon.com/step-functions/pricing/). So a run's billed transitions are the states its Standard run
 * state machine enters (StateEntered events here), and the validation machine's states are not counted.
 */
import aslValidator from 'asl-validator';
import { Match } from 'aws-cdk-lib/assertions';
import { INPUT_ERRORS, isReservedEnvName, MAX_ARGS } from '../../src/protocol';
import { INPUT_STATES, STATES } from '../../src/workflow/states';
import { evaluate } from '../support/iam';
import { runLocally } from '../support/local-sfn';
import { allStatements, roleStatements } from '../support/policies';
import { happyHandlers, SUCCESS_PATH } from '../support/run-handlers';
import { definitionOf, refId, synth, TEST_ENV } from '../support/template';

const s = synth();
const validationId = refId(s, s.pipeline.validationStateMachine.stateMachineArn);
const validationArn = `arn:aws:states:${TEST_ENV.region}:${TEST_ENV.account}:stateMachine:${validationId}`;
const run = definitionOf(s.json, (id) => id === refId(s, s.pipeline.stateMachine.stateMachineArn));
const validation = definitionOf(s.json, (id) => id === validationId);

/** The states of the run state machine a run enters: its billed state transitions. */
async function billedTransitions(input: unknown): Promise<{ count: number; path: string[]; status: string }> {
  const r = await runLocally(run, input, happyHandlers());
  const entered = r.events.filter((e) => e.type === 'StateEntered').length;
  expect(entered).toBe(r.path.length);
  return { count: entered, path: r.path, status: r.status };
}

describe('the input validation state machine', () => {
  test('is an Express state machine with tracing, that logs its failures without execution data to the pipeline\'s log group', () => {
    const machine = s.json.Resources[validationId];
    expect(machine.Properties).toMatchObject({
      StateMachineType: 'EXPRESS',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: { Level: 'ERROR', IncludeExecutionData: false },
    });
    const logGroupId = machine.Properties.LoggingConfiguration.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn['Fn::GetAtt'][0];
    const logGroup = s.json.Resources[logGroupId];
    expect(logGroup.Type).toBe('AWS::Logs::LogGroup');
    // Step Functions' advice for log groups it delivers to (test/fixtures/aws/cwl-resource-policy-size.json).
    expect(logGroup.Properties.LogGroupName).toBe(`/aws/vendedlogs/states/${s.pipeline.pipelineId}`);
    expect(logGroup.Properties.RetentionInDays).toBe(90);
    // The run state machine's log group: one group per pipeline (workflow/state-machine.ts).
    const runLogs = s.json.Resources[refId(s, s.pipeline.stateMachine.stateMachineArn)].Properties.LoggingConfiguration.Destinations[0];
    expect(runLogs.CloudWatchLogsLogGroup.LogGroupArn['Fn::GetAtt'][0]).toBe(logGroupId);
  });

  test('times out after a minute, well within the five minutes a synchronous Express execution may run', () => {
    expect(validation.TimeoutSeconds).toBe(60);
  });

  test('is valid ASL, and holds every input check with its Input.* error', () => {
    const { isValid, errorsText } = aslValidator(validation);
    expect(errorsText('\n')).toBe('');
    expect(isValid).toBe(true);
    expect(Object.keys(validation.States).sort()).toEqual(
      Object.values(INPUT_STATES)
        .filter((n) => ![INPUT_STATES.CHECK_ARG, INPUT_STATES.ARG_OK, INPUT_STATES.ARG_NOT_STRING].includes(n as any))
        .filter((n) => ![INPUT_STATES.CHECK_ENV_VALUE, INPUT_STATES.ENV_VALUE_OK, INPUT_STATES.ENV_VALUE_NOT_STRING].includes(n as any))
        .sort(),
    );
    const errors = Object.values<any>(validation.States).filter((st) => st.Type === 'Fail').map((st) => st.Error);
    // Every Input.* error but the ones raised elsewhere: by the run (script lookup, no answer) and by the bootstrap.
    const elsewhere: string[] = [INPUT_ERRORS.SCRIPT_NOT_FOUND, INPUT_ERRORS.NOT_VALIDATED, INPUT_ERRORS.USER_INPUT_TOO_LARGE];
    const expected = Object.values(INPUT_ERRORS).filter((e) => !elsewhere.includes(e));
    expect(new Set(errors)).toEqual(new Set(expected));
  });

  test('has no Task state: it calls no AWS service, so its role needs nothing but logs and tracing', () => {
    const tasks = JSON.stringify(validation).match(/"Type":"Task"/g);
    expect(tasks).toBeNull();
    const actions = roleStatements(s, s.pipeline.validationStateMachine.role).flatMap((st) => st.Action);
    expect(actions.every((a) => a.startsWith('logs:') || a.startsWith('xray:'))).toBe(true);
  });
});

describe('the run calls it with aws-sdk:sfn:startSyncExecution', () => {
  test('"Validate input" is the request-response SDK integration, not states:startExecution.sync', () => {
    // "For nested Express Workflows, arn:aws:states:::states:startExecution.sync isn't currently supported."
    // (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-access-cross-acct-resources.html)
    const task = run.States[STATES.VALIDATE_INPUT];
    expect(run.StartAt).toBe(STATES.VALIDATE_INPUT);
    expect(task.Resource).toBe('arn:aws:states:::aws-sdk:sfn:startSyncExecution');
    expect(task.Parameters.StateMachineArn).toBe(validationArn);
    // The state is the whole answer (no ResultSelector reading Output, which a FAILED answer lacks).
    expect(task.ResultSelector).toBeUndefined();
    expect(task.ResultPath).toBeUndefined();
  });

  test('the run role may start only the validation state machine, synchronously, and nothing else of Step Functions on it', async () => {
    const statements = roleStatements(s, s.pipeline.stateMachine.role);
    const onValidation = statements.filter((st) => st.Resource.some((r) => r.includes(validationId)));
    expect(onValidation.map((st) => [st.Effect, st.Action])).toEqual([['Allow', ['states:startSyncExecution']]]);
    const principal = `arn:aws:iam::${TEST_ENV.account}:role/RunRole`;
    const ask = (action: string, resource: string) => evaluate(statements, { principal, action, resource, context: {} });
    expect(await ask('states:StartSyncExecution', validationArn)).toBe('Allowed');
    expect(await ask('states:StartExecution', validationArn)).toBe('ImplicitlyDenied');
    expect(await ask('states:StartSyncExecution', `arn:aws:states:${TEST_ENV.region}:${TEST_ENV.account}:stateMachine:Other`)).toBe('ImplicitlyDenied');
  });

  test('no other role in the template may start it', () => {
    const starters = allStatements(s).filter(
      (st) => st.Effect === 'Allow' && st.Action.some((a) => /^states:(start|\*)/i.test(a)) && st.Resource.some((r) => r.includes(validationId) || r === '*'),
    );
    expect(starters).toHaveLength(1);
  });

  test('both state machines are in the template as the pipeline exposes them', () => {
    s.template.hasResourceProperties('AWS::StepFunctions::StateMachine', Match.objectLike({ StateMachineType: 'EXPRESS' }));
    expect(s.pipeline.validationStateMachine).not.toBe(s.pipeline.stateMachine);
  });
});

describe('billed state transitions per run (the run state machine only; the Express validation is billed per request)', () => {
  const typical = { script: 'jobs/nightly.sh', args: ['--date', '2026-01-01'], env: { STAGE: 'prod' } };

  test('a typical successful run (a script, 2 args, 1 env var) takes at most 16', async () => {
    const { count, path, status } = await billedTransitions(typical);
    expect(status).toBe('SUCCEEDED');
    expect(path).toEqual(SUCCESS_PATH);
    expect(count).toBeLessThanOrEqual(16);
  });

  test(`does not grow with the input: 100 and ${MAX_ARGS} args and 100 env vars cost what 2 args cost`, async () => {
    const { count } = await billedTransitions(typical);
    const args = (n: number) => Array.from({ length: n }, (_, i) => `a${i}`);
    const env = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`V${i}`, 'x']));
    for (const input of [
      { ...typical, args: args(100) },
      { ...typical, args: args(MAX_ARGS) },
      { ...typical, env },
    ]) {
      const r = await billedTransitions(input);
      expect(r.status).toBe('SUCCEEDED');
      expect(r.count).toBe(count);
    }
  });

  test('bad input costs 5 and launches nothing', async () => {
    const { count, path, status } = await billedTransitions({ script: 'run.sh', args: ['a', 1] });
    expect(status).toBe('FAILED');
    expect(path).toEqual([STATES.VALIDATE_INPUT, STATES.INPUT_VALID, STATES.VALIDATION_FAILED, STATES.NOTIFY_FAILURE, STATES.FAILED]);
    expect(count).toBe(5);
  });
});

describe('isReservedEnvName: the same names, for checks at synth (a schedule\'s fixed input)', () => {
  test.each(['BASH_ENV', 'ENV', 'PATH', 'IFS', 'SHELLOPTS', 'BASHOPTS', 'LD_PRELOAD', 'LD_', 'SSP_TASK_TOKEN', 'SSP_X'])('%s is reserved', (name) => {
    expect(isReservedEnvName(name)).toBe(true);
  });
  test.each(['STAGE', 'MY_PATH', 'PATHS', 'path', 'LDX', 'ld_preload', 'SSP', 'XSSP_X', 'ENVIRONMENT'])('%s is not', (name) => {
    expect(isReservedEnvName(name)).toBe(false);
  });
});
