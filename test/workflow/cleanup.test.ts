/**
 * workflow/cleanup.ts: the cleanup of runs that end without their own cleanup path (stopped, timed out, failed in the
 * service), run in the local ASL interpreter from the EventBridge event that starts it; the rule and the IAM.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { CLEANUP_RETRY_ATTEMPTS } from '../../src/workflow/cleanup';
import { CLEANUP_STATES } from '../../src/workflow/states';
// Throttling and refusals of TerminateInstances and DescribeInstances: the RunInstances fixtures, whose shape the
// fixture notes give for every EC2 call through the aws-sdk integration (the one real capture is of RunInstances).
import { awsFixture, taskFailure } from '../support/aws-fixtures';
import { Handler, LocalRunResult, runLocally } from '../support/local-sfn';
import { definitionOf, synth } from '../support/template';

/** The EventBridge event Step Functions sends when an execution changes status. */
function statusEvent(status: string, name = 'exec-1') {
  return {
    'version': '0',
    'detail-type': 'Step Functions Execution Status Change',
    'source': 'aws.states',
    'detail': {
      executionArn: `arn:aws:states:eu-west-1:111111111111:execution:Pipeline:${name}`,
      stateMachineArn: 'arn:aws:states:eu-west-1:111111111111:stateMachine:Pipeline',
      name,
      status,
      startDate: 1764300000000,
      stopDate: 1764300300000,
      input: '{"script":"run.sh"}',
      output: null,
    },
  };
}

/** DescribeInstances' answer: one reservation per instance; none is the fixture's `{"Reservations": []}`. */
function describeAnswer(...ids: string[]) {
  if (ids.length === 0) return awsFixture('ec2-describe-instances-empty').shape;
  return { Reservations: ids.map((id) => ({ Instances: [{ InstanceId: id, State: { Name: 'running' } }] })) };
}

describe('cleanup of runs that end without their own cleanup path', () => {
  const synthesized = synth();
  const definition = definitionOf(synthesized.json, (id) => id.includes('CleanupStateMachine'));

  function run(status: string, handlers: Record<string, Handler>): Promise<LocalRunResult> {
    return runLocally(definition, statusEvent(status), {
      [CLEANUP_STATES.TERMINATE]: () => ({}),
      [CLEANUP_STATES.NOTIFY]: () => ({ MessageId: 'm-1' }),
      ...handlers,
    });
  }

  test('is started by an EventBridge rule for ABORTED, TIMED_OUT and FAILED runs of this pipeline only', () => {
    const { template, stack, pipeline } = synthesized;
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        'source': ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        'detail': {
          stateMachineArn: [stack.resolve(pipeline.stateMachine.stateMachineArn)],
          status: ['ABORTED', 'TIMED_OUT', 'FAILED'],
        },
      },
      Targets: [Match.objectLike({ Arn: stack.resolve(pipeline.cleanupStateMachine.stateMachineArn) })],
    });
  });

  test('looks instances up by this pipeline\'s tag and the execution name, live ones only', async () => {
    const r = await run('ABORTED', { [CLEANUP_STATES.FIND]: () => describeAnswer() });
    const filters = r.calls[CLEANUP_STATES.FIND][0].Filters;
    expect(filters).toEqual([
      { Name: 'tag:shell-script-pipeline:pipeline', Values: [synthesized.pipeline.pipelineId] },
      { Name: 'tag:shell-script-pipeline:execution', Values: ['exec-1'] },
      { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
    ]);
  });

  test('execution stopped by hand (ABORTED): terminates its instance and sends one ABORTED notification', async () => {
    const r = await run('ABORTED', { [CLEANUP_STATES.FIND]: () => describeAnswer('i-0aaa') });
    expect(r.status).toBe('SUCCEEDED');
    expect(r.calls[CLEANUP_STATES.TERMINATE]).toEqual([{ InstanceIds: ['i-0aaa'] }]);
    expect(r.calls[CLEANUP_STATES.NOTIFY]).toHaveLength(1);
    expect(r.calls[CLEANUP_STATES.NOTIFY][0].Subject).toBe('ABORTED: exec-1');
    expect(r.calls[CLEANUP_STATES.NOTIFY][0].Message).toMatchObject({ status: 'ABORTED', execution: 'exec-1', terminatedInstances: ['i-0aaa'] });
  });

  test('execution TIMED_OUT: terminates every instance it finds and sends one TIMED_OUT notification', async () => {
    const r = await run('TIMED_OUT', { [CLEANUP_STATES.FIND]: () => describeAnswer('i-0aaa', 'i-0bbb') });
    expect(r.calls[CLEANUP_STATES.TERMINATE]).toEqual([{ InstanceIds: ['i-0aaa', 'i-0bbb'] }]);
    expect(r.calls[CLEANUP_STATES.NOTIFY]).toHaveLength(1);
    expect(r.calls[CLEANUP_STATES.NOTIFY][0].Subject).toBe('TIMED_OUT: exec-1');
  });

  test('stopped before any launch: nothing to terminate, still one notification', async () => {
    const r = await run('ABORTED', { [CLEANUP_STATES.FIND]: () => describeAnswer() });
    expect(r.calls[CLEANUP_STATES.TERMINATE]).toBeUndefined();
    expect(r.calls[CLEANUP_STATES.NOTIFY]).toHaveLength(1);
  });

  test('no match as an empty list (the fixture) or with "Reservations" left out: nothing to terminate, one notification', async () => {
    // ec2-describe-instances-empty.json: AWS most likely answers {"Reservations": []}; no source rules out the key being absent.
    expect(describeAnswer()).toEqual({ Reservations: [] });
    for (const answer of [describeAnswer(), {}]) {
      const r = await run('TIMED_OUT', { [CLEANUP_STATES.FIND]: () => answer });
      expect(r.status).toBe('SUCCEEDED');
      expect(r.path).toContain(CLEANUP_STATES.NONE);
      expect(r.calls[CLEANUP_STATES.TERMINATE]).toBeUndefined();
      expect(r.calls[CLEANUP_STATES.NOTIFY]).toHaveLength(1);
      expect(r.calls[CLEANUP_STATES.NOTIFY][0].Message.terminatedInstances).toEqual([]);
    }
  });

  test('FAILED run that went through its own cleanup: nothing left, no second notification', async () => {
    const r = await run('FAILED', { [CLEANUP_STATES.FIND]: () => describeAnswer() });
    expect(r.status).toBe('SUCCEEDED');
    expect(r.calls[CLEANUP_STATES.TERMINATE]).toBeUndefined();
    expect(r.calls[CLEANUP_STATES.NOTIFY]).toBeUndefined();
  });

  test('FAILED run that left an instance (a failure inside the service): terminated and notified', async () => {
    const r = await run('FAILED', { [CLEANUP_STATES.FIND]: () => describeAnswer('i-0ccc') });
    expect(r.calls[CLEANUP_STATES.TERMINATE]).toEqual([{ InstanceIds: ['i-0ccc'] }]);
    expect(r.calls[CLEANUP_STATES.NOTIFY]).toHaveLength(1);
    expect(r.calls[CLEANUP_STATES.NOTIFY][0].Subject).toBe('FAILED: exec-1');
  });

  test('terminate throttled twice, then succeeds', async () => {
    let n = 0;
    const r = await run('ABORTED', {
      [CLEANUP_STATES.FIND]: () => describeAnswer('i-0aaa'),
      [CLEANUP_STATES.TERMINATE]: () => {
        if (++n <= 2) throw taskFailure('ec2-run-request-limit-exceeded');
        return {};
      },
    });
    expect(r.calls[CLEANUP_STATES.TERMINATE]).toHaveLength(3);
    expect(r.calls[CLEANUP_STATES.NOTIFY]).toHaveLength(1);
  });

  test('terminate keeps failing: the notification still goes out', async () => {
    const r = await run('ABORTED', {
      [CLEANUP_STATES.FIND]: () => describeAnswer('i-0aaa'),
      [CLEANUP_STATES.TERMINATE]: () => {
        throw taskFailure('ec2-run-unauthorized-operation');
      },
    });
    expect(r.calls[CLEANUP_STATES.TERMINATE]).toHaveLength(9);
    expect(r.calls[CLEANUP_STATES.NOTIFY]).toHaveLength(1);
  });

  test('DescribeInstances throttled: retried before giving up', async () => {
    let n = 0;
    const r = await run('TIMED_OUT', {
      [CLEANUP_STATES.FIND]: () => {
        if (++n <= 2) throw taskFailure('ec2-run-request-limit-exceeded');
        return describeAnswer('i-0aaa');
      },
    });
    expect(r.calls[CLEANUP_STATES.FIND]).toHaveLength(3);
    expect(r.calls[CLEANUP_STATES.TERMINATE]).toEqual([{ InstanceIds: ['i-0aaa'] }]);
  });

  test('the cleanup role may terminate only instances with this pipeline\'s tag', () => {
    const { template, stack, pipeline } = synthesized;
    const role = stack.resolve((pipeline.cleanupStateMachine.role.node.defaultChild as any).logicalId);
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: role }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'ec2:TerminateInstances',
            Condition: { StringEquals: { 'aws:ResourceTag/shell-script-pipeline:pipeline': pipeline.pipelineId } },
          }),
        ]),
      },
    });
  });
});

test('the rule keeps trying to start the cleanup for as long as EventBridge allows: 185 retries within 24 hours', () => {
  const { template } = synth();
  expect(CLEANUP_RETRY_ATTEMPTS).toBe(185);
  template.hasResourceProperties('AWS::Events::Rule', {
    Targets: [Match.objectLike({ RetryPolicy: { MaximumRetryAttempts: CLEANUP_RETRY_ATTEMPTS, MaximumEventAgeInSeconds: 86400 } })],
  });
});
