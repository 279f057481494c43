import { Bootstrap } from '../bootstrap';

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
 * Splits a log file into PutLogEvents batches (at most 5000 events and 900 KB each, one timestamp per line, empty
 * lines kept as a space): node -e SCRIPT <log file> <output prefix>. No single quotes: it is embedded in '...'.
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
