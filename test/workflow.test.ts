import aslValidator from 'asl-validator';
import { Duration } from 'aws-cdk-lib';
import { awsError, Handler, LocalRunResult, runLocally } from './support/local-sfn';
import { runDefinition } from './support/template';
import { STATES } from '../src/workflow/states';

const INSTANCE = 'i-0123456789abcdef0';

/** Fakes for every AWS call the run makes, answering as the services would on a good day. */
function happyHandlers(): Record<string, Handler> {
  return {
    [STATES.CHECK_SCRIPT]: () => ({ ContentLength: 42 }),
    [STATES.LAUNCH]: () => ({ Instances: [{ InstanceId: INSTANCE, State: { Name: 'pending' } }] }),
    [STATES.PAUSE]: () => ({ exitCode: 0, durationSeconds: 12, outputTail: 'done\n' }),
    [STATES.TERMINATE]: () => ({ TerminatingInstances: [{ InstanceId: INSTANCE }] }),
    [STATES.NOTIFY_SUCCESS]: () => ({ MessageId: 'm-1' }),
    [STATES.NOTIFY_FAILURE]: () => ({ MessageId: 'm-1' }),
  };
}

function notifications(r: LocalRunResult): any[] {
  return [...(r.calls[STATES.NOTIFY_SUCCESS] ?? []), ...(r.calls[STATES.NOTIFY_FAILURE] ?? [])];
}

/** The assertions every run shares: one notification with the status in its subject, and the right cleanup. */
function expectOutcome(r: LocalRunResult, status: 'SUCCEEDED' | 'FAILED', opts: { terminated: boolean; error?: string }) {
  expect(r.status).toBe(status);
  const sent = notifications(r);
  expect(sent).toHaveLength(1);
  expect(sent[0].Subject).toBe(`${status}: exec-1`);
  expect(sent[0].Message.status).toBe(status);
  expect(sent[0].Message.execution).toBe('exec-1');
  if (opts.terminated) {
    expect(r.calls[STATES.TERMINATE]?.at(-1)).toEqual({ InstanceIds: [INSTANCE] });
  } else {
    expect(r.calls[STATES.TERMINATE]).toBeUndefined();
  }
  if (opts.error) {
    expect(r.error).toBe(opts.error);
    expect(sent[0].Message.error).toBe(opts.error);
    expect(typeof sent[0].Message.cause).toBe('string');
    expect(sent[0].Message.cause).toBe(r.cause);
  }
}

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
    expect(message.log).toMatch(new RegExp(`/pipeline/runs/exec-1/AROATESTROLEID:${INSTANCE}/output.log$`));
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

  test('launch capacity error, then success on retry: one instance, SUCCEEDED', async () => {
    let calls = 0;
    const r = await runLocally(definition, { script: 'run.sh' }, {
      ...happyHandlers(),
      [STATES.LAUNCH]: () => {
        calls++;
        if (calls === 1) throw awsError('Ec2.InsufficientInstanceCapacityException', 'no t3.micro capacity');
        return { Instances: [{ InstanceId: INSTANCE }] };
      },
    });
    expectOutcome(r, 'SUCCEEDED', { terminated: true });
    expect(r.calls[STATES.LAUNCH]).toHaveLength(2);
    // Both attempts carry the same client token, so a retry after a launch that did happen cannot start a second instance.
    expect(r.calls[STATES.LAUNCH][1].ClientToken).toBe(r.calls[STATES.LAUNCH][0].ClientToken);
  });

  test('no capacity in the first subnet\'s AZ: tries the next subnet, with a new client token, and succeeds', async () => {
    const r = await runLocally(definition, { script: 'run.sh' }, {
      ...happyHandlers(),
      [STATES.LAUNCH]: (input: any) => {
        if (input.NetworkInterfaces[0].SubnetId.includes('Subnet1')) {
          throw awsError('Ec2.Ec2Exception', 'InsufficientInstanceCapacity: We currently do not have sufficient t3.micro capacity');
        }
        return { Instances: [{ InstanceId: INSTANCE }] };
      },
    });
    expectOutcome(r, 'SUCCEEDED', { terminated: true });
    const subnets = r.calls[STATES.LAUNCH].map((c) => c.NetworkInterfaces[0].SubnetId);
    expect(subnets).toEqual([...Array(4).fill(expect.stringContaining('Subnet1')), expect.stringContaining('Subnet2')]);
    expect(r.calls[STATES.LAUNCH][4].ClientToken).not.toBe(r.calls[STATES.LAUNCH][0].ClientToken);
  });

  test('launch fails for good: retried in every subnet, nothing to terminate, FAILED', async () => {
    const r = await runLocally(definition, { script: 'run.sh' }, {
      ...happyHandlers(),
      [STATES.LAUNCH]: () => {
        throw awsError('Ec2.Ec2Exception', 'InsufficientInstanceCapacity');
      },
    });
    expectOutcome(r, 'FAILED', { terminated: false, error: 'Ec2.Ec2Exception' });
    // 1 try + 3 retries, in each of the 2 subnets of the default VPC.
    expect(r.calls[STATES.LAUNCH]).toHaveLength(8);
    expect(r.calls[STATES.PAUSE]).toBeUndefined();
    expect(notifications(r)[0].Message.instanceId).toBe('none');
  });

  test('launch error that is not worth retrying (access denied): one attempt, FAILED', async () => {
    const r = await runLocally(definition, { script: 'run.sh' }, {
      ...happyHandlers(),
      [STATES.LAUNCH]: () => {
        throw awsError('Ec2.AccessDeniedException', 'not authorized');
      },
    });
    expectOutcome(r, 'FAILED', { terminated: false, error: 'Ec2.AccessDeniedException' });
    expect(r.calls[STATES.LAUNCH]).toHaveLength(1);
  });

  test('terminate throttled twice, then succeeds: the run keeps its own status', async () => {
    let calls = 0;
    const r = await runLocally(definition, { script: 'run.sh' }, {
      ...happyHandlers(),
      [STATES.TERMINATE]: () => {
        calls++;
        if (calls <= 2) throw awsError('Ec2.RequestLimitExceeded', 'Request limit exceeded.');
        return {};
      },
    });
    expectOutcome(r, 'SUCCEEDED', { terminated: true });
    expect(r.calls[STATES.TERMINATE]).toHaveLength(3);
  });

  test('terminate keeps failing: FAILED with Terminate.Failed naming the instance', async () => {
    const r = await runLocally(definition, { script: 'run.sh' }, {
      ...happyHandlers(),
      [STATES.TERMINATE]: () => {
        throw awsError('Ec2.Ec2Exception', 'UnauthorizedOperation');
      },
    });
    expectOutcome(r, 'FAILED', { terminated: true, error: 'Terminate.Failed' });
    expect(r.cause).toContain(INSTANCE);
    expect(r.calls[STATES.TERMINATE]).toHaveLength(9);
  });

  describe('bad input fails before any launch, with a specific error in the notification and the execution', () => {
    test.each<[string, unknown, string]>([
      ['no script', { args: ['a'] }, 'Input.MissingScript'],
      ['script is not a string', { script: 42 }, 'Input.MissingScript'],
      ['input is not an object', 'run.sh', 'Input.MissingScript'],
      ['input is a list', ['run.sh'], 'Input.MissingScript'],
      ['empty script', { script: '' }, 'Input.ReservedKey'],
      ["script under the pipeline's prefix", { script: 'pipeline/tasks/i-1.json' }, 'Input.ReservedKey'],
      ['absolute script key', { script: '/etc/passwd' }, 'Input.ReservedKey'],
      ['script key climbing out', { script: 'jobs/../../x.sh' }, 'Input.ReservedKey'],
      ['args is a string', { script: 'run.sh', args: '--all' }, 'Input.InvalidArgs'],
      ['args is an object', { script: 'run.sh', args: { a: 1 } }, 'Input.InvalidArgs'],
      ['args is null', { script: 'run.sh', args: null }, 'Input.InvalidArgs'],
      ['args holds a number', { script: 'run.sh', args: ['a', 2] }, 'Input.InvalidArgs'],
      ['args holds a list', { script: 'run.sh', args: [['a']] }, 'Input.InvalidArgs'],
      ['too many args', { script: 'run.sh', args: Array(1001).fill('a') }, 'Input.TooManyArgs'],
      ['an unknown field', { script: 'run.sh', arg: ['typo'] }, 'Input.UnknownFields'],
      ['an unknown field next to args', { script: 'run.sh', args: [], timeout: 5 }, 'Input.UnknownFields'],
    ])('%s', async (_name, input, error) => {
      const r = await runLocally(definition, input, happyHandlers());
      expectOutcome(r, 'FAILED', { terminated: false, error });
      expect(r.calls[STATES.LAUNCH]).toBeUndefined();
      expect(r.cause!.length).toBeGreaterThan(20);
    });

    test('script key that does not exist in the bucket', async () => {
      const r = await runLocally(definition, { script: 'jobs/missing.sh' }, {
        ...happyHandlers(),
        [STATES.CHECK_SCRIPT]: () => {
          throw awsError('S3.NoSuchKeyException', 'Not Found');
        },
      });
      expectOutcome(r, 'FAILED', { terminated: false, error: 'Input.ScriptNotFound' });
      expect(r.cause).toMatch(/jobs\/missing\.sh cannot be read \(S3\.NoSuchKeyException\)/);
      expect(r.calls[STATES.LAUNCH]).toBeUndefined();
    });
  });
});
