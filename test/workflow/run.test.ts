/**
 * The run state machine (workflow/run.ts and its fragments), executed by a local ASL interpreter with every AWS call
 * faked: the good day, the job's failures, and how the state machine itself is configured.
 */
import aslValidator from 'asl-validator';
import { Duration } from 'aws-cdk-lib';
import { MAX_CAUSE_CHARS, MAX_ERROR_CHARS, OUTPUT_TAIL_BYTES } from '../../src/protocol';
import { STATES } from '../../src/workflow/states';
import { awsFixture } from '../support/aws-fixtures';
import { awsError, runLocally } from '../support/local-sfn';
import { expectOutcome, happyHandlers, INSTANCE, notifications, SUCCESS_PATH } from '../support/run-handlers';
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
    // The input checks run in the input validation state machine (test/workflow/input.test.ts).
    expect(r.path).toEqual(SUCCESS_PATH);
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
      shard: {},
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

// ---- the notification's size -----------------------------------------------------------------------------

/** SNS: "messages must be UTF-8 encoded strings and at most 256 KB in size (262,144 bytes, not 262,144 characters)". */
const SNS_MAX_MESSAGE_BYTES = Number(/\(([\d,]+) bytes/.exec(awsFixture('sns-publish-limits').quote)![1].replace(/,/g, ''));

/**
 * The runtime's cap on a result returned inline (32 KiB of compact JSON, UTF-8); a larger one is stored in S3 and the
 * task output carries `resultLocation` instead. It is MAX_INLINE_RESULT_BYTES in src/protocol once the runtime's
 * result capping lands; until then the number is repeated here.
 */
const MAX_INLINE_RESULT_BYTES = 32_768;

/** A character JSON escapes to the longest form, `\u0001` (6 bytes), whatever serializer Step Functions uses. */
const WORST = '\u0001';

/**
 * An upper bound on the bytes of `value` as JSON by any serializer that writes each UTF-16 unit of a string as at most
 * `\uXXXX` (6 bytes): the structure as JSON.stringify writes it, every string counted at 6 bytes a unit plus quotes.
 */
function worstCaseJsonBytes(value: unknown): number {
  if (typeof value === 'string') return 2 + 6 * value.length;
  if (Array.isArray(value)) return 2 + value.reduce((n, v) => n + worstCaseJsonBytes(v), 0) + Math.max(0, value.length - 1);
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    return 2 + entries.reduce((n, [k, v]) => n + worstCaseJsonBytes(k) + 1 + worstCaseJsonBytes(v), 0) + Math.max(0, entries.length - 1);
  }
  return JSON.stringify(value).length;
}

describe('the notification stays under SNS\'s 262,144 bytes whatever the job prints and returns', () => {
  const definition = runDefinition({ staging: { outputPrefix: 'out/' } });
  // The longest execution name Step Functions takes (80 characters), which the message repeats (name, ARN, log, outputs).
  const executionName = 'n'.repeat(80);
  /**
   * The longest the message's other fields can be, in characters (each counted at 6 bytes below): status, pipeline ID
   * (a stack name of up to 128 characters, '-', 8), the execution name, its ARN (at most 256 characters: StartExecution's
   * executionArn), the instance ID, and an s3:// URL with a 63-character bucket name and a 1,024-byte key (log and outputs).
   */
  const FIELD_CHARS = { status: 9, pipeline: 137, execution: 80, executionArn: 256, instanceId: 19, log: 1093, outputLocation: 1093 };
  const fieldsBound = Object.entries(FIELD_CHARS).reduce((n, [k, chars]) => n + worstCaseJsonBytes(k) + 1 + 2 + 6 * chars + 1, 0);
  const numbersBound = 2 * (worstCaseJsonBytes('attempt') + 1 + 20 + 1); // attempt, maxAttempts: at most 20 digits each
  const envelope = 2 + numbersBound + fieldsBound;

  test('the bounds, from the limits: both under 262,144 bytes', () => {
    expect(SNS_MAX_MESSAGE_BYTES).toBe(262_144);
    const failureBound = envelope + (7 + 2 + 6 * MAX_ERROR_CHARS) + (7 + 2 + 6 * MAX_CAUSE_CHARS + 1);
    // job: {exitCode, durationSeconds, outputTail (OUTPUT_TAIL_BYTES of output, each byte at most one character),
    // result: at most MAX_INLINE_RESULT_BYTES of JSON, so at most that many characters in its strings}.
    const jobBound = 2 + 2 * (20 + 20) + (12 + 2 + 6 * OUTPUT_TAIL_BYTES + 1) + (8 + 6 * MAX_INLINE_RESULT_BYTES + 1) + 6 * 3;
    const successBound = envelope + 5 + 1 + jobBound;
    expect(failureBound).toBeLessThan(SNS_MAX_MESSAGE_BYTES);
    expect(successBound).toBeLessThan(SNS_MAX_MESSAGE_BYTES);
  });

  test('failure: the longest error and cause, every character escaped to 6 bytes: the message Publish gets is under the limit', async () => {
    const error = WORST.repeat(MAX_ERROR_CHARS);
    const cause = WORST.repeat(MAX_CAUSE_CHARS);
    const r = await runLocally(definition, { script: 'run.sh' }, {
      ...happyHandlers(),
      [STATES.PAUSE]: () => {
        throw awsError(error, cause);
      },
    }, { executionName });
    expect(r.status).toBe('FAILED');
    const [{ Message: message }] = notifications(r);
    expect(message.cause).toBe(cause);
    // The bound above counts these fields and no others.
    expect(Object.keys(message).sort()).toEqual([...Object.keys(FIELD_CHARS).filter((k) => k !== 'outputLocation'), 'attempt', 'maxAttempts', 'error', 'cause'].sort());
    const bytes = Buffer.byteLength(JSON.stringify(message), 'utf8');
    // The cause alone is 196,608 bytes of JSON: the message carries it once, and nothing else as large.
    expect(bytes).toBeGreaterThan(6 * MAX_CAUSE_CHARS);
    expect(bytes).toBeLessThanOrEqual(worstCaseJsonBytes(message));
    expect(worstCaseJsonBytes(message)).toBeLessThan(SNS_MAX_MESSAGE_BYTES);
  });

  test('success: the longest output tail and inline result, every character escaped to 6 bytes: under the limit', async () => {
    const outputTail = WORST.repeat(OUTPUT_TAIL_BYTES);
    // The largest inline result: a string whose compact JSON is exactly MAX_INLINE_RESULT_BYTES.
    const result = WORST.repeat((MAX_INLINE_RESULT_BYTES - 2) / 6);
    expect(Buffer.byteLength(JSON.stringify(result), 'utf8')).toBe(MAX_INLINE_RESULT_BYTES);
    const job = { exitCode: 0, durationSeconds: 86_400, outputTail, result };
    const r = await runLocally(definition, { script: 'run.sh' }, { ...happyHandlers(), [STATES.PAUSE]: () => job }, { executionName });
    expect(r.status).toBe('SUCCEEDED');
    const [{ Message: message }] = notifications(r);
    expect(message.job).toEqual(job);
    expect(Object.keys(message).sort()).toEqual([...Object.keys(FIELD_CHARS), 'attempt', 'maxAttempts', 'job'].sort());
    const bytes = Buffer.byteLength(JSON.stringify(message), 'utf8');
    expect(bytes).toBeGreaterThan(MAX_INLINE_RESULT_BYTES + 6 * OUTPUT_TAIL_BYTES);
    expect(bytes).toBeLessThanOrEqual(worstCaseJsonBytes(message));
    expect(worstCaseJsonBytes(message)).toBeLessThan(SNS_MAX_MESSAGE_BYTES);
  });

  test('success with a result too large to return inline: the notification names where the runtime stored it', async () => {
    const job = { exitCode: 0, durationSeconds: 3, outputTail: 'ok\n', resultLocation: `s3://job-bucket/pipeline/runs/AROATESTROLEID:${INSTANCE}/exec-1/result.json`, resultBytes: 900_000 };
    const r = await runLocally(definition, { script: 'run.sh' }, { ...happyHandlers(), [STATES.PAUSE]: () => job });
    const [{ Message: message }] = notifications(r);
    expect(message.job.resultLocation).toBe(job.resultLocation);
    expect(message.job.resultBytes).toBe(900_000);
    expect(message.job.result).toBeUndefined();
  });
});
