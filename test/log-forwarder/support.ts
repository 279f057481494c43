/**
 * Shared set-up of the log forwarder's tests: a fake S3 and a fake CloudWatch Logs on 127.0.0.1, and the
 * environment that points the AWS SDK at them with static credentials, so nothing reaches AWS.
 */
import { FakeLogs } from './fake-logs';
import { LOG_FORWARDER_ENV, LogForwarderInput } from '../../src/protocol';
import { FakeS3 } from '../support/fake-s3';

export const BUCKET = 'job-bucket';
export const LOG_GROUP = '/ssp/job-logs';
export const RUN_KEY = 'pipeline/runs/nightly-2026-12-01/AROAEXAMPLE:i-0123456789abcdef0/output.log';

export function inputFor(overrides: Partial<LogForwarderInput> = {}): LogForwarderInput {
  return { bucket: BUCKET, key: RUN_KEY, logGroupName: LOG_GROUP, logStreamName: 'nightly-2026-12-01/i-0123456789abcdef0', ...overrides };
}

export interface Fakes {
  readonly s3: FakeS3;
  readonly logs: FakeLogs;
  /** Restores process.env and stops the fakes. */
  stop(): Promise<void>;
}

/** Starts both fakes and points process.env at them (static credentials, no config files, no instance metadata). */
export async function startFakes(): Promise<Fakes> {
  const s3 = new FakeS3();
  const logs = new FakeLogs();
  await Promise.all([s3.start(), logs.start()]);
  const saved = { ...process.env };
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: 'AKIDTESTTESTTESTTEST',
    AWS_SECRET_ACCESS_KEY: 'test-secret',
    AWS_REGION: 'eu-west-1',
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
    AWS_EC2_METADATA_DISABLED: 'true',
    // The SDK's Node 20 notice (this machine's Node; the function runs on Node 24).
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    AWS_ENDPOINT_URL_S3: s3.url,
    AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: logs.url,
    [LOG_FORWARDER_ENV.BUCKET]: BUCKET,
    [LOG_FORWARDER_ENV.LOG_GROUP]: LOG_GROUP,
  });
  return {
    s3,
    logs,
    async stop() {
      process.env = saved;
      await Promise.all([s3.stop(), logs.stop()]);
    },
  };
}

/** `n` numbered lines of about `width` characters, each ending in a newline. */
export function numberedLines(n: number, width = 50): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const head = `line ${String(i).padStart(6, '0')} `;
    lines.push(head + 'x'.repeat(Math.max(0, width - head.length)));
  }
  return lines.join('\n') + '\n';
}

/** The error a promise rejects with, as { name, message }. */
export async function rejection(p: Promise<unknown>): Promise<{ name: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return { name: (e as Error).name, message: (e as Error).message };
  }
  throw new Error('the promise resolved');
}
