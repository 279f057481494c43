/**
 * parts/job-logs: jobLogRetention. The log group, the instance role's grant, and the bootstrap's before-report hook that
 * sends the job's output there, read from the template and run in a sandbox.
 */
import * as logs from 'aws-cdk-lib/aws-logs';
import { BOOT_PHASES } from '../../src/protocol';
import { renderBootstrap } from '../support/bootstrap';
import { templateStatementsOf } from '../support/policies';
import { cleanupSandboxes, INSTANCE_ID, jobObjects, RENDER_OPTIONS, RUN_PREFIX, runSandbox, summary, BUCKET } from '../support/sandbox';
import { cfn, heredoc, lazySynth, refId, userDataOf } from '../support/template';

afterAll(cleanupSandboxes);

const defaults = lazySynth({});

// ---- jobLogRetention -------------------------------------------------------------------------------------

describe('jobLogRetention', () => {
  const logged = lazySynth({ jobLogRetention: logs.RetentionDays.ONE_WEEK });

  test('creates a retained log group with that retention', () => {
    const s = logged();
    expect(s.pipeline.jobLogGroup).toBeDefined();
    const id = refId(s, s.pipeline.jobLogGroup!.logGroupName);
    expect(s.json.Resources[id]).toMatchObject({ Type: 'AWS::Logs::LogGroup', Properties: { RetentionInDays: 7 }, DeletionPolicy: 'Retain' });
    s.template.hasResource('AWS::Logs::LogGroup', { Properties: { RetentionInDays: 7 }, DeletionPolicy: 'Retain' });
    s.template.resourceCountIs('AWS::Logs::LogGroup', 2);
  });

  test('the instance role may create streams in and put events to that log group only', () => {
    const s = logged();
    const logStatements = templateStatementsOf(s, s.pipeline.instanceRole).filter((st) => st.Action.some((a: string) => a.startsWith('logs:')));
    expect(logStatements).toEqual([
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: [cfn(s, s.pipeline.jobLogGroup!.logGroupArn)],
      },
    ]);
  });

  test("the bootstrap's before-report hook sends the job's log to the group, one stream per attempt", () => {
    const s = logged();
    const script = userDataOf(s);
    const group = `ref-${refId(s, s.pipeline.jobLogGroup!.logGroupName)}`;
    expect(script).toContain(`SSP_JOB_LOG_GROUP='${group}' SSP_JOB_LOG_STREAM="$EXECUTION/$IID"`);
    const hook = heredoc(script, 'before-report.sh', 'HOOK');
    expect(hook).toContain('aws logs create-log-stream --log-group-name "$SSP_JOB_LOG_GROUP" --log-stream-name "$SSP_JOB_LOG_STREAM"');
    expect(hook).toMatch(
      /"\$NODE" -e '[^']+' "\$LOG" "\$WORK\/log-events"[^\n]*\n[^\n]*for batch in "\$WORK"\/log-events-\*\.json/,
    );
    expect(hook).toContain('aws logs put-log-events --log-group-name "$SSP_JOB_LOG_GROUP" --log-stream-name "$SSP_JOB_LOG_STREAM" --log-events "file://$batch"');
    // The log still goes to the bucket first.
    expect(hook.split('\n')[1]).toBe('aws s3 cp --only-show-errors "$LOG" "s3://$BUCKET/$RUN_PREFIX/output.log"');
  });

  test('default: no job log group, no logs permissions on the instance role, no CloudWatch Logs calls in the bootstrap', () => {
    const s = defaults();
    expect(s.pipeline.jobLogGroup).toBeUndefined();
    s.template.resourceCountIs('AWS::Logs::LogGroup', 1);
    s.template.resourcePropertiesCountIs('AWS::Logs::LogGroup', { RetentionInDays: 7 }, 0);
    expect(templateStatementsOf(s, s.pipeline.instanceRole).filter((st) => st.Action.some((a: string) => a.startsWith('logs:')))).toEqual([]);
    const script = userDataOf(s);
    expect(script).not.toContain('aws logs');
    expect(script).not.toContain('SSP_JOB_LOG_GROUP');
  });
});

describe('the bootstrap in a sandbox: job log group', () => {
  const script = renderBootstrap({ ...RENDER_OPTIONS, heartbeatSeconds: '1', jobLogGroup: 'ssp-job-logs' });
  const STREAM = `exec-1/${INSTANCE_ID}`;

  test('the before-report hook creates the stream <execution>/<instance> and puts one event per line of the log', () => {
    const objects = { ...jobObjects(), [`${BUCKET}/jobs/nightly.sh`]: "printf 'first\\n\\nthird\\n'\n" };
    const before = Date.now();
    const r = runSandbox({ script, objects, env: { SSP_RUN_JOB: '1' } });
    const lines = summary(r);
    const create = `aws logs create-log-stream --log-group-name ssp-job-logs --log-stream-name ${STREAM}`;
    const put = `aws logs put-log-events --log-group-name ssp-job-logs --log-stream-name ${STREAM} --log-events file://$WORK/log-events-0.json`;
    expect(lines.filter((l) => l.startsWith('aws logs '))).toEqual([create, put]);
    // In the hook: after the job, after the log went to the bucket, before the trap's own uploads.
    const hookUpload = lines.indexOf(`aws s3 cp $WORK/output.log s3://${RUN_PREFIX}/output.log`);
    expect(hookUpload).toBeGreaterThan(lines.indexOf('heartbeat run'));
    expect(lines.indexOf(create)).toBeGreaterThan(hookUpload);
    expect(lines.indexOf(put)).toBeLessThan(lines.lastIndexOf(`aws s3 cp $WORK/output.log s3://${RUN_PREFIX}/output.log`));

    const batches = r.sidecar('log-events')!.trim().split('\n').map((l) => JSON.parse(l));
    expect(batches).toHaveLength(1);
    // The run log opens with the bootstrap's boot phase lines, then the job's output; an empty line is sent as ' '.
    const messages: string[] = batches[0].map((e: any) => e.message);
    expect(messages.slice(0, BOOT_PHASES.length).map((m) => m.split(' ')[1])).toEqual([...BOOT_PHASES]);
    expect(messages.slice(BOOT_PHASES.length)).toEqual(['first', ' ', 'third']);
    for (const e of batches[0]) {
      expect(Object.keys(e).sort()).toEqual(['message', 'timestamp']);
      expect(e.timestamp).toBeGreaterThanOrEqual(before);
      expect(e.timestamp).toBeLessThanOrEqual(Date.now());
    }
  });

  test('without a job log group, nothing goes to CloudWatch Logs', () => {
    const r = runSandbox({ script: renderBootstrap({ ...RENDER_OPTIONS, heartbeatSeconds: '1' }), objects: jobObjects(), env: { SSP_RUN_JOB: '1' } });
    expect(summary(r).filter((l) => l.startsWith('aws logs '))).toEqual([]);
    expect(r.sidecar('log-events')).toBeUndefined();
  });
});
