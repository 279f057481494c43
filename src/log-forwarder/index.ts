/**
 * The log forwarder: a Lambda function the run state machine invokes after a job when `jobLogRetention` is set. It
 * copies the run's log from the job bucket (`pipeline/runs/.../output.log`) into the run's stream of the job log group,
 * so job instances need no CloudWatch Logs permission and cannot write another run's stream.
 *
 * Input: `LogForwarderInput` (src/protocol); result: `LogForwarderResult`; errors: `LOG_FORWARDER_ERRORS`.
 * Bundled with esbuild (and its own AWS SDK) into assets/log-forwarder/index/index.js; src/parts/log-forwarder.ts
 * deploys it.
 */
// The SDK is bundled into the function's asset by esbuild, so it is (correctly) only a devDependency of the library.
// eslint-disable-next-line import/no-extraneous-dependencies
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
// eslint-disable-next-line import/no-extraneous-dependencies
import { S3Client } from '@aws-sdk/client-s3';
import { ForwarderClients, forwardRunLog } from './forward';
import { parseInput } from './input';
import type { LogForwarderResult } from '../protocol';

export { LogForwarderError, parseInput } from './input';
export { forwardRunLog, cutMarker, emptyLogMarker } from './forward';
export type { ForwarderClients, ForwardOptions } from './forward';
export * from './events';
export * from './limits';

/**
 * The SDK clients, made on the first invocation and kept for the next ones in the same execution environment.
 * Region and credentials come from the Lambda environment; `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`
 * (SDK-native) point them elsewhere, and then S3 requests are path-style (for local stand-ins).
 */
let clients: ForwarderClients | undefined;

export function createClients(env: NodeJS.ProcessEnv = process.env): ForwarderClients {
  return {
    s3: new S3Client({ ...(env.AWS_ENDPOINT_URL_S3 ? { forcePathStyle: true } : {}) }),
    logs: new CloudWatchLogsClient({}),
  };
}

/** The Lambda handler (`index.handler`). */
export async function handler(event: unknown): Promise<LogForwarderResult> {
  const input = parseInput(event, process.env);
  clients ??= createClients();
  return forwardRunLog(input, clients);
}

/** Drops the cached clients (tests that move the endpoints between invocations). */
export function resetClients(): void {
  clients?.s3.destroy();
  clients?.logs.destroy();
  clients = undefined;
}
