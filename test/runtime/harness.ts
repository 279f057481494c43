/**
 * Helpers for running the bundled heartbeat runtime (assets/runtime/cli/heartbeat.js) as a real child process.
 */
import { spawn } from 'child_process';
import type { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { TaskDocument } from '../../src/protocol';
import { FakeImds } from '../support/fake-imds';
import { FakeStepFunctions } from '../support/fake-sfn';

export const BUNDLE = path.resolve(__dirname, '../../assets/runtime/cli/heartbeat.js');

/** Fails with a clear message when the bundle was not built. */
export function requireBundle(): void {
  if (!fs.existsSync(BUNDLE)) {
    throw new Error(`The heartbeat runtime bundle ${BUNDLE} is missing. Build it first: npx projen bundle`);
  }
}

/** A fresh temp directory, removed by {@link cleanupTmp}. */
const tmpDirs: string[] = [];
export function tmpDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssp-hb-test-'));
  tmpDirs.push(dir);
  return dir;
}
export function cleanupTmp(): void {
  for (const d of tmpDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/**
 * The usual setup of a suite that runs the bundled runtime: checks the bundle is built and starts a fake Step
 * Functions endpoint before the suite (beforeAll); stops it and removes the temp directories after it (afterAll).
 */
export function useBundleWithFakeSfn(): FakeStepFunctions {
  const sfn = new FakeStepFunctions();
  beforeAll(async () => {
    requireBundle();
    await sfn.start();
  });
  afterAll(async () => {
    await sfn.dispose();
    cleanupTmp();
  });
  return sfn;
}

/**
 * What keeps the AWS SDK on this machine: static credentials, no config files, no instance metadata lookups
 * (which would go to a non-loopback address).
 */
export function offlineAwsEnv(region = 'eu-west-3'): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: 'AKIDTESTTESTTESTTEST',
    AWS_SECRET_ACCESS_KEY: 'test-secret',
    AWS_REGION: region,
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

/** A hermetic environment for the runtime: static credentials, no config files, no metadata lookups, no Spot checks. */
export function cliEnv(sfnUrl: string, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: os.tmpdir(),
    ...offlineAwsEnv(),
    AWS_ENDPOINT_URL_SFN: sfnUrl,
    SSP_SPOT_CHECK: '0',
    SSP_HEARTBEAT_INTERVAL_MS: '100',
  };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Write a task document for `token` and return its path. */
export function writeTask(dir: string, token: string, overrides: Partial<TaskDocument> = {}): string {
  const doc: TaskDocument = {
    taskToken: token,
    executionArn: 'arn:aws:states:eu-west-3:123456789012:execution:Pipeline:exec-1',
    executionName: 'exec-1',
    script: 'jobs/test.sh',
    args: [],
    heartbeatSeconds: 5,
    ...overrides,
  };
  const file = path.join(dir, `task-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(file, JSON.stringify(doc));
  return file;
}

/** Write an executable bash script and return its path. */
export function writeScript(dir: string, body: string): string {
  const file = path.join(dir, `job-${Math.random().toString(36).slice(2)}.sh`);
  fs.writeFileSync(file, `#!/bin/bash\n${body}\n`, { mode: 0o755 });
  return file;
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** When the process exited (`Date.now()`). */
  readonly endedAt: number;
  readonly durationMs: number;
}

export interface CliProcess {
  readonly child: ChildProcess;
  readonly done: Promise<CliResult>;
  /** stderr received so far. */
  stderrSoFar(): string;
}

/** Start the bundled CLI. It is SIGKILLed if it is still running after `timeoutMs`. */
export function startCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 20_000): CliProcess {
  requireBundle();
  const started = Date.now();
  const child = spawn(process.execPath, [BUNDLE, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const endedAt = Date.now();
      resolve({ code, signal, stdout, stderr, endedAt, durationMs: endedAt - started });
    });
  });
  return { child, done, stderrSoFar: () => stderr };
}

/** Run the bundled CLI to completion. */
export function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs?: number): Promise<CliResult> {
  return startCli(args, env, timeoutMs).done;
}

/** Whether a process is gone (does not exist, or is a zombie nobody reaped: it runs no code any more). */
export function processGone(pid: number): boolean {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return true;
  }
  const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  return state === 'Z' || state === 'X';
}

/** Poll `condition` every 20 ms until it is true; throw `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Wait until a file exists and holds a pid; return it. */
export async function readPidFile(file: string, timeoutMs = 10_000): Promise<number> {
  await waitFor(() => fs.existsSync(file) && /^\d+\s*$/.test(fs.readFileSync(file, 'utf8')), `pid file ${file}`, timeoutMs);
  return Number(fs.readFileSync(file, 'utf8').trim());
}

/** Kill leftover processes of a failed test (best effort). */
export function killQuietly(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** A fast retry policy for in-process tests: 5 attempts, waits of at most 20 ms. */
export const FAST_RETRY = { maxAttempts: 5, baseDelayMs: 5, maxDelayMs: 20 };

/** A logger that keeps what it is given (clear `lines` between tests). */
export function logCapture(): { log: (message: string) => void; lines: string[] } {
  const lines: string[] = [];
  return { log: (m) => lines.push(m), lines };
}

/**
 * For in-process tests: set these variables in `process.env` before the file's tests (the function runs in
 * `beforeAll`, after the hooks registered before it) and restore the environment after them.
 */
export function useProcessEnv(vars: () => Record<string, string>): void {
  const saved = { ...process.env };
  beforeAll(() => {
    Object.assign(process.env, vars());
  });
  afterAll(() => {
    process.env = saved;
  });
}

/** Every SendTaskSuccess/SendTaskFailure call for `token`, answered or not (`finalsFor` has only the accepted ones). */
export function finalCalls(sfn: FakeStepFunctions, token: string) {
  return sfn.calls.filter((c) => c.token === token && (c.action === 'SendTaskSuccess' || c.action === 'SendTaskFailure'));
}

/** Processes a test started; {@link killLeftovers} kills what is left of them. */
const leftovers: number[] = [];

/** Have {@link killLeftovers} kill process `pid` if it is still there. */
export function trackPid(pid: number): void {
  leftovers.push(pid);
}

/** Kill the processes {@link readJobPids} (or {@link trackPid}) saw (best effort), e.g. in `afterEach`: a failed test may leave them. */
export function killLeftovers(): void {
  leftovers.splice(0).forEach(killQuietly);
}

/** A job that records its own pid and the pid of a grandchild (`sleep`), then waits for a long time. */
export interface LongJob {
  readonly script: string;
  readonly jobPidFile: string;
  readonly grandchildPidFile: string;
}

/** Write a {@link LongJob} (bash; `extra` runs first, e.g. a trap). It prints `started` and, if it ever ends, `finished`. */
export function longJob(dir: string, extra = ''): LongJob {
  const jobPidFile = path.join(dir, 'job.pid');
  const grandchildPidFile = path.join(dir, 'sleep.pid');
  const script = writeScript(dir, [
    extra,
    'echo started',
    'sleep 30 &',
    `echo $! > ${grandchildPidFile}.tmp && mv ${grandchildPidFile}.tmp ${grandchildPidFile}`,
    `echo $$ > ${jobPidFile}.tmp && mv ${jobPidFile}.tmp ${jobPidFile}`,
    'wait',
    'echo finished',
  ].join('\n'));
  return { script, jobPidFile, grandchildPidFile };
}

/** Wait until a {@link LongJob} is running; its pid and its grandchild's (both killed by {@link killLeftovers}). */
export async function readJobPids(job: LongJob): Promise<number[]> {
  const pids = [await readPidFile(job.jobPidFile), await readPidFile(job.grandchildPidFile)];
  leftovers.push(...pids);
  return pids;
}

/** What {@link measureRuntimePeakRss} found. */
export interface RuntimePeakRss {
  /** The runtime process's VmHWM (peak resident set size) when its final result arrived, in KiB. */
  readonly vmHwmKib: number;
  /** The final result the fake Step Functions endpoint got (`succeeded` for a healthy run). */
  readonly state: string;
}

/**
 * Peak memory of the bundled runtime while a job runs, for bench/bench.ts (a figure to print, not a test assertion):
 * `heartbeat.js run -- sleep <jobSeconds>` against a local fake Step Functions endpoint and a fake instance metadata
 * service (Spot checks on, no notice), heartbeating every 500 ms. The runtime's `VmHWM` is read from
 * `/proc/<pid>/status` when its final result arrives at the fake, while the process still waits for the answer. Linux
 * only (it needs /proc).
 */
export async function measureRuntimePeakRss(options: { jobSeconds?: number; bundle?: string } = {}): Promise<RuntimePeakRss> {
  const sfn = new FakeStepFunctions();
  const imds = new FakeImds();
  await Promise.all([sfn.start(), imds.start()]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssp-rss-'));
  try {
    const token = sfn.addToken();
    const taskFile = writeTask(dir, token, { heartbeatSeconds: 60 });
    const env = cliEnv(sfn.url, { SSP_SPOT_CHECK: undefined, SSP_IMDS_ENDPOINT: imds.url, SSP_HEARTBEAT_INTERVAL_MS: '500', HOME: dir });
    const child = spawn(process.execPath, [options.bundle ?? BUNDLE, 'run', '--task-file', taskFile, '--', 'sleep', String(options.jobSeconds ?? 2)], {
      env,
      stdio: 'ignore',
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const closed = new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', () => resolve());
    }).finally(() => clearTimeout(timer));
    let vmHwmKib: number | undefined;
    let readError: unknown;
    sfn.onFinal(token, () => {
      try {
        const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
        if (!match) throw new Error(`no VmHWM line in /proc/${child.pid}/status`);
        vmHwmKib = Number(match[1]);
      } catch (e) {
        readError = e;
      }
    });
    await closed;
    if (vmHwmKib === undefined) throw new Error(`could not read the runtime's VmHWM: ${readError ?? 'no final result arrived'}`);
    return { vmHwmKib, state: sfn.tokenState(token) ?? 'unknown' };
  } finally {
    await Promise.all([sfn.dispose(), imds.stop()]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
