/**
 * One answer to a task token, as the `fail` and `heartbeat` commands send it: its exit code says whether it arrived.
 */
import { CLI_EXIT } from '../../protocol';
import { lostTaskReason } from '../errors';
import { stderrLog } from '../log';
import { TaskReporter } from '../reporter';
import { describeError } from '../util';

/**
 * Send one answer with a new reporter for `token`, then log `done`. Exit `CLI_EXIT.OK`; `CLI_EXIT.LOST` when the token
 * is gone; `CLI_EXIT.REPORT_FAILED` when the call was refused or kept failing.
 */
export async function answerToken(token: string, send: (reporter: TaskReporter) => Promise<void>, done: string): Promise<number> {
  const reporter = new TaskReporter({ taskToken: token });
  try {
    await send(reporter);
    stderrLog(done);
    return CLI_EXIT.OK;
  } catch (e) {
    const reason = lostTaskReason(e);
    if (reason) {
      stderrLog(`the task is lost (${reason}): ${(e as Error).message}`);
      return CLI_EXIT.LOST;
    }
    stderrLog(`could not reach Step Functions: ${describeError(e)}`);
    return CLI_EXIT.REPORT_FAILED;
  } finally {
    reporter.destroy();
  }
}
