/**
 * The AWS SDK's NodeVersionSupportWarning is kept out of the runtime's output (src/runtime/sdk-warnings.ts); other
 * process warnings are not.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { cliEnv, runCli, tmpDir, useBundleWithFakeSfn, writeTask } from './harness';
import { CLI_EXIT } from '../../src/protocol';
import { filterSdkNodeVersionWarning, isSdkNodeVersionWarning, SDK_NODE_VERSION_WARNING } from '../../src/runtime/sdk-warnings';

const sfn = useBundleWithFakeSfn();

/**
 * A `--require` script that makes the process look like Node.js 20 (the SDK warns below 22, whatever Node runs the
 * tests) and, once the main module has loaded, emits a warning of another kind.
 */
function preload(dir: string): string {
  const file = path.join(dir, 'old-node.js');
  fs.writeFileSync(file, [
    'Object.defineProperty(process, "version", { value: "v20.0.0" });',
    'setTimeout(() => process.emitWarning("a warning of another kind", "OtherWarning"), 0);',
  ].join('\n'));
  return file;
}

test('the predicate matches the SDK\'s warning (by text, type or name) and nothing else', () => {
  const sdkText = `${SDK_NODE_VERSION_WARNING}: The AWS SDK for JavaScript (v3)\nversions published after the first week of January 2027\nwill require node >=22.`;
  expect(isSdkNodeVersionWarning(sdkText)).toBe(true);
  expect(isSdkNodeVersionWarning('something', SDK_NODE_VERSION_WARNING)).toBe(true);
  expect(isSdkNodeVersionWarning('something', { type: SDK_NODE_VERSION_WARNING })).toBe(true);
  expect(isSdkNodeVersionWarning(Object.assign(new Error('x'), { name: SDK_NODE_VERSION_WARNING }))).toBe(true);

  expect(isSdkNodeVersionWarning('Buffer() is deprecated', 'DeprecationWarning')).toBe(false);
  expect(isSdkNodeVersionWarning(`see ${SDK_NODE_VERSION_WARNING}: elsewhere`)).toBe(false);
  expect(isSdkNodeVersionWarning(new Error(`${SDK_NODE_VERSION_WARNING} mentioned`))).toBe(false);
  expect(isSdkNodeVersionWarning(undefined)).toBe(false);
});

test('loading the runtime filters process.emitWarning once (a second install does not wrap it again)', () => {
  const installed = process.emitWarning;
  filterSdkNodeVersionWarning();
  expect(process.emitWarning).toBe(installed);
});

test('control: without the runtime, the SDK prints the warning on this (made-old) Node.js', () => {
  const dir = tmpDir();
  const res = spawnSync(process.execPath, ['--require', preload(dir), '-e', 'const { SFNClient } = require("@aws-sdk/client-sfn"); new SFNClient({ region: "eu-west-3" });'],
    { encoding: 'utf8', timeout: 20_000, cwd: path.resolve(__dirname, '../..') });
  expect(res.status).toBe(0);
  expect(res.stderr).toContain(`Warning: ${SDK_NODE_VERSION_WARNING}: The AWS SDK for JavaScript (v3)`);
  expect(res.stderr).toContain('OtherWarning: a warning of another kind');
});

test('a runtime run prints no NodeVersionSupportWarning, and still prints other warnings', async () => {
  const dir = tmpDir();
  const token = sfn.addToken();
  const res = await runCli(['run', '--task-file', writeTask(dir, token), '--', 'bash', '-c', 'echo job output'],
    cliEnv(sfn.url, { NODE_OPTIONS: `--require ${preload(dir)}` }));

  expect(res.code).toBe(CLI_EXIT.OK);
  expect(sfn.finalsFor(token).map((f) => f.action)).toEqual(['SendTaskSuccess']);
  expect(res.stderr).not.toContain(SDK_NODE_VERSION_WARNING);
  expect(res.stderr).not.toContain('The AWS SDK for JavaScript');
  expect(res.stderr).toContain('OtherWarning: a warning of another kind');
  expect(res.stdout).toBe('job output\n');
});
