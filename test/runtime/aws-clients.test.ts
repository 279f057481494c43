/**
 * The SDK clients (src/runtime/aws-clients.ts): the S3 SDK is loaded only by the code that needs it (claim-activity, a
 * result stored in S3), yet stays inside the one bundle file.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as esbuild from 'esbuild';
import { BUNDLE, cleanupTmp, requireBundle, tmpDir } from './harness';

const ROOT = path.resolve(__dirname, '../..');

afterAll(() => cleanupTmp());

test('no runtime module imports the S3 SDK statically: only loadS3() requires it, so `run` never evaluates it', async () => {
  // The bundle's module graph, as `npx projen bundle` builds it (minification does not change the graph).
  const built = await esbuild.build({
    entryPoints: [path.join(ROOT, 'src/runtime/cli.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    mainFields: ['module', 'main'],
    external: ['aws-crt'],
    write: false,
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: ROOT,
  });
  const s3Imports = Object.entries(built.metafile.inputs)
    .flatMap(([file, input]) => input.imports.filter((i) => i.original === '@aws-sdk/client-s3').map((i) => ({ file, kind: i.kind })));
  // A static import would be hoisted and evaluated when the bundle loads; a require() inside a function is evaluated
  // when it runs (esbuild wraps the module in a lazy initializer).
  expect(s3Imports).toEqual([{ file: 'src/runtime/aws-clients.ts', kind: 'require-call' }]);
  expect(fs.readFileSync(path.join(ROOT, 'src/runtime/aws-clients.ts'), 'utf8')).toMatch(/export function loadS3\(\): S3Sdk \{\n[^\n]*\n\s+return require\('@aws-sdk\/client-s3'\)/);
});

test('the bundle alone, away from node_modules, creates an S3 client (the lazily loaded SDK is inside it)', () => {
  requireBundle();
  const copy = path.join(tmpDir(), 'heartbeat.js');
  fs.copyFileSync(BUNDLE, copy);
  const script = `const c = require(${JSON.stringify(copy)}).createS3Client({ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' });
    Promise.resolve(c.config.forcePathStyle).then((v) => { process.stdout.write(String(v) + ' ' + typeof c.send); c.destroy(); });`;
  const res = spawnSync(process.execPath, ['-e', script], { cwd: path.dirname(copy), encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH, AWS_REGION: 'eu-west-3' } });
  expect(res.stderr).toBe('');
  expect(res.stdout).toBe('true function');
});
