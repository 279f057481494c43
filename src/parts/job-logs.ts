import { RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { Bootstrap } from '../bootstrap';
import type { ShellScriptPipelineProps } from '../shell-script-pipeline-props';

/** The props this part owns. */
export type JobLogsProps = Pick<ShellScriptPipelineProps, 'jobLogRetention'>;

/**
 * With `jobLogRetention`: a retained CloudWatch Logs group that also receives each job's output, one stream per
 * attempt, sent by the bootstrap's before-report hook; the instance role may write to that group only.
 */
export class JobLogs {
  /** The group; only with `jobLogRetention`. */
  public readonly logGroup?: logs.LogGroup;

  constructor(pipeline: Construct, props: JobLogsProps, instanceRole: iam.IRole) {
    if (props.jobLogRetention === undefined) return;
    this.logGroup = new logs.LogGroup(pipeline, 'JobLogs', { retention: props.jobLogRetention, removalPolicy: RemovalPolicy.RETAIN });
    this.logGroup.grant(instanceRole, 'logs:CreateLogStream', 'logs:PutLogEvents');
  }

  public addToBootstrap(bootstrap: Bootstrap): void {
    if (this.logGroup) addJobLogShipping(bootstrap, this.logGroup.logGroupName);
  }
}

/**
 * The before-report hook also sends the job's log to the CloudWatch Logs group, one stream per attempt
 * (`<execution>/<instance ID>`), after it went to the bucket.
 */
export function addJobLogShipping(bootstrap: Bootstrap, logGroupName: string): void {
  bootstrap.addHookVariable(`SSP_JOB_LOG_GROUP='${logGroupName}'`, 'SSP_JOB_LOG_STREAM="$EXECUTION/$IID"');
  bootstrap.addPublishStep(`aws logs create-log-stream --log-group-name "$SSP_JOB_LOG_GROUP" --log-stream-name "$SSP_JOB_LOG_STREAM" 2>/dev/null || true
"$NODE" -e '${LOG_EVENTS_SCRIPT}' "$LOG" "$WORK/log-events" &&
  for batch in "$WORK"/log-events-*.json; do
    [ -f "$batch" ] || continue
    aws logs put-log-events --log-group-name "$SSP_JOB_LOG_GROUP" --log-stream-name "$SSP_JOB_LOG_STREAM" --log-events "file://$batch" >/dev/null
  done`);
}

/**
 * Splits a log file into PutLogEvents batches: node -e SCRIPT <log file> <output prefix>. PutLogEvents takes at most
 * 10,000 events and 1,048,576 bytes per batch, counting each message in UTF-8 plus 26 bytes per event
 * (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html); the batches stay well
 * under both (5000 events, 900 KB). One timestamp for every line; empty lines are sent as a space. No single quotes:
 * it is embedded in '...'.
 */
const LOG_EVENTS_SCRIPT = [
  'const fs = require("fs");',
  'const [file, out] = process.argv.slice(1);',
  'const lines = fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\\n") : [];',
  'if (lines.length && lines[lines.length - 1] === "") lines.pop();',
  'let batch = [], size = 0, n = 0; const now = Date.now();',
  'const flush = () => { if (batch.length) fs.writeFileSync(out + "-" + (n++) + ".json", JSON.stringify(batch)); batch = []; size = 0; };',
  'for (const line of lines) { const message = (line || " ").slice(0, 200000); const bytes = Buffer.byteLength(message) + 26;',
  '  if (batch.length >= 5000 || size + bytes > 900000) flush(); batch.push({ timestamp: now, message }); size += bytes; }',
  'flush();',
].join(' ');
