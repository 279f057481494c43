/**
 * The shipped artifact: assets/log-forwarder/index/index.js (built by `npx projen bundle`, which the test task runs
 * first), copied alone into an empty folder so it cannot reach node_modules, and run by a separate Node process the
 * way Lambda runs `index.handler`: it exports the handler, forwards a log, and fails with the documented error name.
 * (It runs in a child process because the SDK's `import("node:http")` needs a real module loader, not jest's.)
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { BUCKET, Fakes, LOG_GROUP, RUN_KEY, inputFor, startFakes } from './support';
import { LOG_FORWARDER_ERRORS, LogForwarderInput } from '../../src/protocol';

const BUNDLE = path.join(__dirname, '..', '..', 'assets', 'log-forwarder', 'index', 'index.js');

/** Calls `handler(input)` from index.js in `dir` and prints the result, or Lambda's error shape, as JSON. */
const DRIVER = `
const { handler } = require('./index.js');
handler(JSON.parse(process.argv[2])).then(
  (result) => console.log(JSON.stringify({ result })),
  (e) => console.log(JSON.stringify({ errorType: e.name, errorMessage: e.message })),
);
`;

let fakes: Fakes;
let dir: string;

beforeAll(async () => {
  fakes = await startFakes();
  fakes.logs.createLogGroup(LOG_GROUP);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'log-forwarder-bundle-'));
  fs.copyFileSync(BUNDLE, path.join(dir, 'index.js'));
  fs.writeFileSync(path.join(dir, 'driver.js'), DRIVER);
});

afterAll(async () => {
  await fakes.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function invoke(input: LogForwarderInput): Promise<any> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: dir };
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('AWS_') || k.startsWith('SSP_')) env[k] = v;
  const { stdout } = await promisify(execFile)(process.execPath, ['driver.js', JSON.stringify(input)], { cwd: dir, env, timeout: 30_000 });
  return JSON.parse(stdout);
}

test('the bundle alone, in an empty folder, forwards a run log', async () => {
  fakes.s3.putObject(BUCKET, RUN_KEY, 'from the bundle\nsecond line\n');
  const { result } = await invoke(inputFor());
  expect(fakes.logs.events(LOG_GROUP, inputFor().logStreamName)!.map((e) => e.message)).toEqual(['from the bundle', 'second line']);
  expect(result).toMatchObject({ events: 2, batches: 1, omittedBytes: 0 });
});

test('the bundle refuses bad input with the documented error name', async () => {
  expect(await invoke(inputFor({ key: 'scripts/job.sh' }))).toEqual({
    errorType: LOG_FORWARDER_ERRORS.INVALID_INPUT,
    errorMessage: '\'key\' must be a run log, pipeline/runs/<role ID>:<instance ID>/<execution>/output.log; got "scripts/job.sh"',
  });
});
