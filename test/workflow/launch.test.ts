/**
 * workflow/launch.ts: the launch, run in the local ASL interpreter: retries with the same client token, the next
 * subnet on capacity errors, and a launch that fails for good.
 */
import { STATES } from '../../src/workflow/states';
import { awsError, runLocally } from '../support/local-sfn';
import { expectOutcome, happyHandlers, INSTANCE, notifications } from '../support/run-handlers';
import { runDefinition } from '../support/template';

describe('the launch, executed by a local ASL interpreter', () => {
  const definition = runDefinition();

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
});
