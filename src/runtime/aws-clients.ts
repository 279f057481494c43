/**
 * The AWS SDK clients the runtime creates. Every one makes a single attempt per call (`maxAttempts: 1`): the runtime's
 * own retry loop (./retry) decides what is retried. Region, credentials and endpoints come from the standard chain
 * (`AWS_REGION`, `AWS_ENDPOINT_URL_SFN`, `AWS_ENDPOINT_URL_S3`, ...).
 *
 * Every command needs Step Functions, so its client is imported statically. The S3 client is needed only by
 * `claim-activity` and by a `run` whose result is too large to return inline, so it is loaded on first use
 * ({@link loadS3}): a `require()` inside a function, which esbuild keeps inside the one bundle file (as a lazily
 * initialized module) but evaluates only when it runs. Nothing else in the runtime may import `@aws-sdk/client-s3`
 * for its values (types are fine): that would load it for every command, and the runtime's peak memory while a job
 * runs is a target (bench/bench.ts prints it; test/runtime/aws-clients.test.ts checks the bundle's imports).
 */
import './sdk-warnings';
// The SDK is bundled into the runtime asset by esbuild, so it is (correctly) only a devDependency of the library.
// eslint-disable-next-line import/no-extraneous-dependencies
import type { S3Client } from '@aws-sdk/client-s3';
// eslint-disable-next-line import/no-extraneous-dependencies
import { SFNClient } from '@aws-sdk/client-sfn';

/** The S3 SDK module (`@aws-sdk/client-s3`). */
export type S3Sdk = typeof import('@aws-sdk/client-s3');

/**
 * The S3 SDK, loaded on first use (see the module comment). A `require()` rather than `import()`: it keeps
 * {@link createS3Client} synchronous, and jest (tests run the sources as CommonJS under `module: node16`) cannot run a
 * real dynamic `import()` without `--experimental-vm-modules`.
 */
export function loadS3(): S3Sdk {
  // eslint-disable-next-line @typescript-eslint/no-require-imports, import/no-extraneous-dependencies
  return require('@aws-sdk/client-s3') as S3Sdk;
}

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
 * (for local stand-ins). The S3 SDK is loaded by the first call ({@link loadS3}).
 */
export function createS3Client(env: NodeJS.ProcessEnv = process.env): S3Client {
  const { S3Client: Client } = loadS3();
  return new Client({
    maxAttempts: 1,
    requestHandler: { connectionTimeout: CONNECTION_TIMEOUT_MS },
    ...(env.AWS_ENDPOINT_URL_S3 ? { forcePathStyle: true } : {}),
  });
}
