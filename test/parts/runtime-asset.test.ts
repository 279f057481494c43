/**
 * parts/runtime-asset: the heartbeat runtime shipped as a CDK asset, what the instance role may read of it, and where
 * the bootstrap fetches it from.
 */
import { roleStatements } from '../support/policies';
import { synth, userDataOf } from '../support/template';

describe('the heartbeat runtime', () => {
  const s = synth();

  test('the instance role reads the heartbeat runtime object, not the whole CDK asset bucket', () => {
    const statements = roleStatements(s, s.pipeline.instanceRole);
    const assetReads = statements.filter((st) => st.Resource.some((r) => r.includes('cdk-hnb659fds-assets')));
    expect(assetReads.length).toBeGreaterThan(0);
    for (const st of assetReads) {
      expect(st.Action).toEqual(['s3:GetObject']);
      for (const r of st.Resource) expect(r).toMatch(/^arn:aws:s3:::cdk-hnb659fds-assets-[^/]+\/[0-9a-f]{64}\.js$/);
    }
  });

  test('the bootstrap downloads that same object', () => {
    const statements = roleStatements(s, s.pipeline.instanceRole).filter((st) => st.Sid === 'ReadHeartbeatRuntime');
    expect(statements).toHaveLength(1);
    const [arn] = statements[0].Resource;
    const runtimeUrl = /RUNTIME_URL='([^']*)'/.exec(userDataOf(s))?.[1];
    expect(runtimeUrl).toBe(arn.replace(/^arn:aws:s3:::/, 's3://'));
  });
});
