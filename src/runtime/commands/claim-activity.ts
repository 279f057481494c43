/**
 * `heartbeat.js claim-activity` (activity mode): find this instance's task among the activity's (see
 * `claimActivityTask`) and write it to a file as a task document, for the `run` step.
 */
import * as fs from 'fs';
import * as path from 'path';
import { positiveNumber, UsageError } from './command';
import type { Command } from './command';
import { CLI_EXIT, ENV, JOB_ERRORS } from '../../protocol';
import { ActivityClaimError, claimActivityTask, DEFAULT_ACTIVITY_WAIT_SECONDS } from '../activity-claim';
import type { ClaimActivityOptions } from '../activity-claim';
import { stderrLog } from '../log';
import { TaskReporter } from '../reporter';
import { describeError } from '../util';

type ClaimCommandOptions = Pick<ClaimActivityOptions, 'activityArn' | 'instanceId' | 'bucket' | 'ownerTagValue' | 'pollTimeoutMs' | 'handoffIntervalMs'>
  & { readonly waitMs: number; readonly out: string };

export const claimActivityCommand: Command = {
  options: ['activity-arn', 'instance-id', 'bucket', 'owner-tag-value', 'out', 'wait-seconds', 'poll-timeout-seconds', 'handoff-interval-seconds'],
  takesCommand: false,
  prepare({ options }, env) {
    const checked = claimActivityOptions(options, env);
    return () => claimAndWrite(checked);
  },
};

/** The options of "claim-activity", checked. */
function claimActivityOptions(options: ReadonlyMap<string, string>, env: NodeJS.ProcessEnv): ClaimCommandOptions {
  const required = (name: string): string => {
    const v = options.get(name);
    if (v === undefined || v === '') throw new UsageError(`claim-activity: --${name} is required`);
    return v;
  };
  const activityArn = required('activity-arn');
  const instanceId = required('instance-id');
  const bucket = required('bucket');
  const ownerTagValue = required('owner-tag-value');
  const out = required('out');
  const colon = ownerTagValue.indexOf(':');
  if (colon <= 0 || ownerTagValue.slice(colon + 1) !== instanceId) {
    throw new UsageError(`--owner-tag-value must be "<RoleId>:${instanceId}" (the role session's aws:userid), got "${ownerTagValue}"`);
  }
  // Default wait: 10 minutes, or twice HeartbeatSeconds if longer. Past that, a task that another instance drew and
  // could not hand over has timed out on the service side, so waiting longer cannot help.
  let waitSeconds = positiveNumber('--wait-seconds', options.get('wait-seconds'));
  if (waitSeconds === undefined) {
    let hb: number | undefined;
    try {
      hb = positiveNumber(ENV.HEARTBEAT_SECONDS, env[ENV.HEARTBEAT_SECONDS] || undefined);
    } catch {
      hb = undefined;
    }
    waitSeconds = Math.max(DEFAULT_ACTIVITY_WAIT_SECONDS, 2 * (hb ?? 0));
  }
  const pollTimeoutSeconds = positiveNumber('--poll-timeout-seconds', options.get('poll-timeout-seconds'));
  const handoffIntervalSeconds = positiveNumber('--handoff-interval-seconds', options.get('handoff-interval-seconds'));
  return {
    activityArn,
    instanceId,
    bucket,
    ownerTagValue,
    out,
    waitMs: waitSeconds * 1000,
    pollTimeoutMs: pollTimeoutSeconds === undefined ? undefined : pollTimeoutSeconds * 1000,
    handoffIntervalMs: handoffIntervalSeconds === undefined ? undefined : handoffIntervalSeconds * 1000,
  };
}

async function claimAndWrite(options: ClaimCommandOptions): Promise<number> {
  const { out, ...claim } = options;
  stderrLog(`claim-activity: polling ${claim.activityArn} as ${claim.instanceId}; giving up after ${claim.waitMs / 1000} s`);
  let claimed;
  try {
    claimed = await claimActivityTask(claim);
  } catch (e) {
    if (e instanceof ActivityClaimError) {
      stderrLog(`claim-activity: ${e.message}`);
      return e.exitCode;
    }
    stderrLog(`claim-activity: ${describeError(e)}`);
    return CLI_EXIT.REPORT_FAILED;
  }
  let written = true;
  try {
    writeFileAtomic(out, JSON.stringify(claimed.document));
    stderrLog(`claim-activity: this instance's task (execution ${claimed.document.executionName}, ${claimed.source === 'poll' ? 'drawn' : 'handed over'}) is in ${out}`);
  } catch (e) {
    written = false;
    stderrLog(`claim-activity: cannot write ${out}: ${(e as Error).message}`);
  }
  try {
    await claimed.drained;
  } catch (e) {
    stderrLog(`claim-activity: ${(e as Error).message}`);
    return CLI_EXIT.REPORT_FAILED;
  }
  if (!written) {
    // We hold our own task but cannot hand it to the bootstrap: fail it rather than leave it to time out.
    const reporter = new TaskReporter({ taskToken: claimed.document.taskToken });
    try {
      await reporter.fail(JOB_ERRORS.BOOTSTRAP_FAILED, `the activity task was claimed but could not be written to ${out}`);
    } catch (e) {
      stderrLog(`claim-activity: could not report the failure either: ${(e as Error).message}`);
    } finally {
      reporter.destroy();
    }
    return CLI_EXIT.REPORT_FAILED;
  }
  return CLI_EXIT.OK;
}

/** Write `text` to `file` atomically (a temp file in the same directory, then rename), readable by the owner only. */
function writeFileAtomic(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, text, { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}
