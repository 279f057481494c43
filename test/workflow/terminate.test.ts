/**
 * workflow/terminate.ts: TerminateInstances, run in the local ASL interpreter (throttled, failing for good), and the
 * IAM it carries: only instances with this pipeline's tag, in every policy of the stack.
 */
import { STATES } from '../../src/workflow/states';
// Throttling and refusals of TerminateInstances and DescribeInstances: the RunInstances fixtures, whose shape the
// fixture notes give for every EC2 call through the aws-sdk integration (the one real capture is of RunInstances).
import { taskFailure } from '../support/aws-fixtures';
import { runLocally } from '../support/local-sfn';
import { allStatements, ec2Arn, hasAction, roleStatements } from '../support/policies';
import { expectOutcome, happyHandlers, INSTANCE } from '../support/run-handlers';
import { runDefinition, synth } from '../support/template';

describe('terminate, executed by a local ASL interpreter', () => {
  const definition = runDefinition();

  test('terminate throttled twice, then succeeds: the run keeps its own status', async () => {
    let calls = 0;
    const r = await runLocally(definition, { script: 'run.sh' }, {
      ...happyHandlers(),
      [STATES.TERMINATE]: () => {
        calls++;
        if (calls <= 2) throw taskFailure('ec2-run-request-limit-exceeded');
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
        throw taskFailure('ec2-run-unauthorized-operation');
      },
    });
    expectOutcome(r, 'FAILED', { terminated: true, error: 'Terminate.Failed' });
    expect(r.cause).toContain(INSTANCE);
    expect(r.calls[STATES.TERMINATE]).toHaveLength(9);
  });
});

test('may terminate only instances tagged with the pipeline ID (in every policy of the stack)', () => {
  const s = synth();
  const statements = roleStatements(s, s.pipeline.stateMachine.role);
  expect(statements.some((st) => hasAction(st, 'ec2:TerminateInstances'))).toBe(true);
  const terminate = allStatements(s).filter((st) => hasAction(st, 'ec2:TerminateInstances'));
  expect(terminate.length).toBeGreaterThan(0);
  for (const st of terminate) {
    expect(st).toEqual(
      expect.objectContaining({
        Effect: 'Allow',
        Resource: [ec2Arn('instance/*')],
        Condition: { StringEquals: { 'aws:ResourceTag/shell-script-pipeline:pipeline': s.pipeline.pipelineId } },
      }),
    );
  }
});
