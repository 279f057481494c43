/**
 * Many concurrent executions of the real run definition, each with its own fake instance running the job under a real
 * heartbeat runtime process (test/e2e/load-run.ts): every execution ends with its own result, and no instance can read
 * another's task document.
 */
import { runLoad } from './load-run';
import { STATES } from '../../src/workflow/states';
import { cleanupTmp, requireBundle, tmpDir } from '../runtime/harness';
import { FakeStepFunctions } from '../support/fake-sfn';
import { instanceRolePolicies } from '../support/iam';
import { definitionOf, synth } from '../support/template';

const EXECUTIONS = Number(process.env.SSP_TEST_EXECUTIONS ?? 50);

describe(`${EXECUTIONS} concurrent executions, each with a real heartbeat runtime process`, () => {
  const fake = new FakeStepFunctions();
  const synthesized = synth();
  const definition = definitionOf(synthesized.json, (id) => id.includes('StateMachine') && !id.includes('Cleanup'));
  const role = instanceRolePolicies(synthesized.json);

  beforeAll(async () => {
    requireBundle();
    await fake.start();
  });
  afterAll(async () => {
    await fake.stop();
    cleanupTmp();
  });

  test('every execution gets its own result; none crosses', async () => {
    const { results, bucket, instanceOf, crossed } = await runLoad({ executions: EXECUTIONS, definition, role, fake, work: tmpDir() });

    let failed = 0;
    results.forEach((r, i) => {
      // Its own instance was terminated...
      expect(r.calls[STATES.TERMINATE]).toEqual([{ InstanceIds: [instanceOf(i)] }]);
      if (i % 5 === 4) {
        failed++;
        // ...and a failure carries its own exit code and its own output.
        expect(r.status).toBe('FAILED');
        expect(r.error).toBe('Job.NonZeroExit');
        const cause = JSON.parse(r.cause!);
        expect(cause.exitCode).toBe((i % 50) + 1);
        expect(cause.outputTail).toContain(`job of exec-${i} with arg-${i}`);
      } else {
        expect(r.status).toBe('SUCCEEDED');
        expect(r.output.job.result).toEqual({ execution: `exec-${i}`, arg: `arg-${i}` });
        expect(r.output.job.outputTail).toContain(`job of exec-${i} with arg-${i}`);
      }
    });
    expect(failed).toBe(EXECUTIONS / 5);
    // The load run's own count (what the bench prints) agrees.
    expect(crossed).toBe(0);
    // Every neighbour read was refused, and no instance ever read a document that was not its own.
    expect(bucket.crossReads).toBe(0);
    expect(bucket.deniedReads).toBeGreaterThanOrEqual(EXECUTIONS);
    // Exactly one final answer per token.
    for (const call of fake.callsFor('SendTaskSuccess').concat(fake.callsFor('SendTaskFailure'))) {
      expect(fake.finalsFor(call.token!)).toHaveLength(1);
    }
  }, 180_000);
});
