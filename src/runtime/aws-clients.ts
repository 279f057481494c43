/**
 * The AWS SDK clients the runtime creates. Every one makes a single attempt per call (`maxAttempts: 1`): the runtime's
 * own retry loop (./retry) decides what is retried. Region, credentials and endpoints come from the standard chain
 * (`AWS_REGION`, `AWS_ENDPOINT_URL_SFN`, `AWS_ENDPOINT_URL_S3`, ...).
 */
import './sdk-warnings';
// The SDK is bundled into the runtime asset by esbuild, so it is (correctly) only a devDependency of the library.
// eslint-disable-next-line import/no-extraneous-dependencies
import { S3Client } from '@aws-sdk/client-s3';
// eslint-disable-next-line import/no-extraneous-dependencies
import { SFNClient } from '@aws-sdk/client-sfn';

/** Connection timeout of every client, in ms. */
const CONNECTION_TIMEOUT_MS = 5_000;

/** The Step Functions client a `TaskReporter` creates when it is given none (`TaskReporterOptions.client`). */
export function createSfnClient(): SFNClient {
  return new SFNClient({ maxAttempts: 1, requestHandler: { connectionTimeout: CONNECTION_TIMEOUT_MS } });
}

/**
 * The Step Functions client for activity long polls (and the heartbeats of drawn tasks): its socket and request
 * timeouts are `pollTimeoutMs`, which must outlast a poll (the service holds one for up to 60 s).
 */
export function createActivitySfnClient(pollTimeoutMs: number): SFNClient {
  return new SFNClient({
    maxAttempts: 1,
    requestHandler: {
      connectionTimeout: CONNECTION_TIMEOUT_MS,
      socketTimeout: pollTimeoutMs,
      requestTimeout: pollTimeoutMs,
      throwOnRequestTimeout: true,
    },
  });
}

/**
 * The S3 client the runtime uses by default: region and credentials from the standard chain, `maxAttempts: 1` (the
 * runtime retries itself), endpoint from `AWS_ENDPOINT_URL_S3` if set (SDK-native), and then path-style requests
 * (for local stand-ins).
 */
export function createS3Client(env: NodeJS.ProcessEnv = process.env): S3Client {
  return new S3Client({
    maxAttempts: 1,
    requestHandler: { connectionTimeout: CONNECTION_TIMEOUT_MS },
    ...(env.AWS_ENDPOINT_URL_S3 ? { forcePathStyle: true } : {}),
  });
}
