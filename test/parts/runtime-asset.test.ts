/**
 * parts/runtime-asset: the heartbeat runtime shipped as a CDK asset, what the instance role may read of it, where
 * the bootstrap fetches it from, and the sha256 the bootstrap checks it against.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { RuntimeAsset } from '../../src/parts/runtime-asset';
import { roleStatements } from '../support/policies';
import { synth, TEST_ENV, userDataOf } from '../support/template';

const BUNDLE = path.join(__dirname, '..', '..', 'assets', 'runtime', 'cli', 'heartbeat.js');

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

  test('the bootstrap checks it against the sha256 of the bundle this package ships, computed at synth time', () => {
    const expected = createHash('sha256').update(fs.readFileSync(BUNDLE)).digest('hex');
    expect(/^RUNTIME_SHA256='([0-9a-f]{64})'$/m.exec(userDataOf(s))?.[1]).toBe(expected);
  });

  test('the hash is that of the file staged for upload, byte for byte', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssp-asset-'));
    try {
      const app = new App({ outdir });
      const stack = new Stack(app, 'RuntimeAssetStack', { env: TEST_ENV });
      const runtime = new RuntimeAsset(stack, new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') }));
      app.synth();
      const staged = fs.readFileSync(path.join(outdir, runtime.asset.assetPath));
      expect(runtime.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(createHash('sha256').update(staged).digest('hex')).toBe(runtime.sha256);
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });
});
