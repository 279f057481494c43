import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { TaskFields } from '../protocol';
import { attemptLaunch } from './launch';

/**
 * What the run keeps in its state between steps, besides the normalized input (`script`, `userInput`, `args`, `env`,
 * `shard`):
 *
 * - `$.subnets`: the subnet IDs to launch in (each attempt starts in a random one; see launch.ts);
 * - `$.attempt`: which attempt this is (1-based; 0 for input that never got to an attempt);
 * - `$.instance`: this attempt's launch: `InstanceId` ("none" before one), `ClientToken`, `SubnetIndex` and the
 *   launch's bookkeeping (see launch.ts); once launched, `{InstanceId}`;
 * - `$.job`: the job's result; `$.error`: why the attempt failed (`{Error, Cause}`); `$.previousError` on a retry.
 */

/**
 * The state an attempt starts from: the input, no instance yet, and a fresh launch (idempotency token, and a random
 * first subnet of the `subnets` subnets in `$.subnets`).
 */
export function attemptInput(attempt: number | string, subnets: number): Record<string, unknown> {
  return {
    'script.$': '$.script',
    'userInput.$': '$.userInput',
    'args.$': '$.args',
    'env.$': '$.env',
    'shard.$': '$.shard',
    'subnets.$': '$.subnets',
    ...(typeof attempt === 'number' ? { attempt } : { 'attempt.$': attempt }),
    // No instance yet; the client token makes launch retries idempotent.
    'instance': attemptLaunch(subnets),
  };
}

/** Where this attempt's instance ID is. */
export const INSTANCE_ID_PATH = '$.instance.InstanceId';

/**
 * What "Pause for Job Completion" hands the instance, in both hand-off modes (the protocol's TaskFields, from the run
 * state): typed against the protocol, so a field the runtime expects cannot go missing here.
 */
export function taskFields(heartbeatSeconds: number): Record<keyof TaskFields, unknown> {
  return {
    executionArn: sfn.JsonPath.executionId,
    executionName: sfn.JsonPath.executionName,
    script: sfn.JsonPath.stringAt('$.script'),
    userInput: sfn.JsonPath.stringAt('$.userInput'),
    args: sfn.JsonPath.listAt('$.args'),
    env: sfn.JsonPath.objectAt('$.env'),
    shard: sfn.JsonPath.objectAt('$.shard'),
    attempt: sfn.JsonPath.numberAt('$.attempt'),
    heartbeatSeconds,
  };
}
