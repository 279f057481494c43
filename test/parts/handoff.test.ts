/**
 * parts/handoff: taskHandoff. TASK_TOKEN (the default): the task document and its tag, and what the state machine may
 * write. ACTIVITY: the activity, the instance role's polling and hand-over grants, the hand-over lifecycle rule, the
 * activity tasks in local runs, and the bootstrap's claim (in a sandbox).
 */
import * as fs from 'fs';
import * as path from 'path';
import { Match } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { TaskHandoff } from '../../src';
import { BOOT_PHASES } from '../../src/protocol';
import { STATES } from '../../src/workflow/states';
import { renderBootstrap } from '../support/bootstrap';
import { runLocally } from '../support/local-sfn';
import { allows, roleStatements, Statement, templateStatementsOf } from '../support/policies';
import { attemptHandlers, instanceFor, ok } from '../support/run-handlers';
import {
  bashHeartbeats,
  BUCKET,
  callIndex,
  cleanupSandboxes,
  heartbeatCalls,
  INSTANCE_ID,
  isHeartbeat,
  jobObjects,
  modeOf,
  RENDER_OPTIONS,
  RUN_PREFIX,
  RUNTIME_KEY,
  runLog,
  runSandbox,
  sfnRequests,
  summary,
  TASK_KEY,
  taskDocument,
} from '../support/sandbox';
import { cfn, definitionOf, lazySynth, pauseState, refId, resolveIntrinsics, runDefinitionOf, synth, userDataOf, value } from '../support/template';

afterAll(cleanupSandboxes);

const defaults = lazySynth({});

describe('TaskHandoff.TASK_TOKEN (default)', () => {
  test("'Pause for Job Completion' writes the task document and waits for the task token", () => {
    const pause = pauseState(defaults());
    expect(pause.Resource).toMatch(/s3:putObject\.waitForTaskToken$/);
    expect(pause.HeartbeatSeconds).toBe(300);
    expect(pause.TimeoutSeconds).toBe(3600);
    expect(pause.Parameters.Body).toEqual(expect.objectContaining({ 'taskToken.$': '$$.Task.Token', 'heartbeatSeconds': 300 }));
    expect(pause.Parameters['Key.$']).toContain('pipeline/tasks/');
  });

  test("'Pause for Job Completion' tags the task document with the instance role's ID", () => {
    const s = defaults();
    const roleId = value(s, (s.pipeline.instanceRole as iam.Role).roleId);
    expect(pauseState(s).Parameters['Tagging.$']).toBe(`States.Format('ssp-owner={}:{}', '${roleId}', $.instance.InstanceId)`);
  });

  test('the state machine role may write and tag objects under pipeline/tasks/ only', () => {
    const s = defaults();
    const bucketArn = value(s, s.pipeline.bucket.bucketArn);
    const writes = roleStatements(s, s.pipeline.stateMachine.role).filter((st) => st.Action.some((a) => /^s3:Put/i.test(a)));
    expect(writes.flatMap((st) => st.Action).sort()).toEqual(['s3:PutObject', 's3:PutObjectTagging']);
    for (const st of writes) expect(st.Resource).toEqual([`${bucketArn}/pipeline/tasks/*`]);
  });

  test('no activity, no GetActivityTask, no HandOverDrawnTasks statement', () => {
    const s = defaults();
    s.template.resourceCountIs('AWS::StepFunctions::Activity', 0);
    expect(s.pipeline.activity).toBeUndefined();
    const statements = templateStatementsOf(s, s.pipeline.instanceRole);
    expect(statements.filter((st) => allows(st, 'states:GetActivityTask'))).toEqual([]);
    expect(statements.filter((st) => st.Sid === 'HandOverDrawnTasks')).toEqual([]);
    expect(statements.filter((st) => st.Action.includes('s3:PutObjectTagging'))).toEqual([]);
  });

  test('no ExpireHandedOverTasks lifecycle rule (nothing is ever handed over)', () => {
    defaults().template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: Match.not(Match.arrayWith([Match.objectLike({ Id: 'ExpireHandedOverTasks' })])) },
    });
  });

  test('the bootstrap waits for the task document and carries none of activity mode', () => {
    const userData = userDataOf(defaults());
    expect(userData).toContain('aws s3api get-object --bucket "$BUCKET" --key "pipeline/tasks/$IID.json" --expected-bucket-owner "$ACCOUNT" "$TASK"');
    expect(userData).not.toContain('CLAIMER');
    expect(userData).not.toContain('claim-activity');
  });
});

describe('TaskHandoff.ACTIVITY', () => {
  const activity = lazySynth({ taskHandoff: TaskHandoff.ACTIVITY, staging: { inputPrefixes: ['in/a'], outputPrefix: 'results' } });

  test('creates one activity, and "Pause for Job Completion" waits on it', () => {
    const s = activity();
    s.template.resourceCountIs('AWS::StepFunctions::Activity', 1);
    expect(s.pipeline.activity).toBeDefined();
    const activityId = refId(s, s.pipeline.activity!.activityArn);
    expect(s.json.Resources[activityId].Type).toBe('AWS::StepFunctions::Activity');
    expect(runDefinitionOf(s).States[STATES.PAUSE].Resource).toBe(`arn:aws:states:eu-west-1:111111111111:activity:${activityId}`);
  });

  test('the instance role may poll this activity (states:GetActivityTask on it, and on nothing else)', () => {
    const s = activity();
    const polls = templateStatementsOf(s, s.pipeline.instanceRole).filter((st) => st.Action.includes('states:GetActivityTask'));
    expect(polls).toHaveLength(1);
    expect(polls[0]).toMatchObject({ Effect: 'Allow', Resource: [cfn(s, s.pipeline.activity!.activityArn)] });
  });

  test('HandOverDrawnTasks: put under pipeline/handoff/ only when tagging the object for an instance of this role', () => {
    const s = activity();
    s.template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [cfn(s, s.pipeline.instanceRole.roleName)],
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'HandOverDrawnTasks',
            Effect: 'Allow',
            Action: ['s3:PutObject', 's3:PutObjectTagging'],
            Resource: cfn(s, s.pipeline.bucket.arnForObjects('pipeline/handoff/*')),
            Condition: { StringLike: { 's3:RequestObjectTag/ssp-owner': Match.anyValue() } },
          },
        ]),
      },
    });
    const [handover]: Statement[] = templateStatementsOf(s, s.pipeline.instanceRole).filter((st) => st.Sid === 'HandOverDrawnTasks');
    // <RoleId>:i-*, the aws:userid of any instance of this role.
    expect(resolveIntrinsics(handover.Condition, s.json.Resources)).toEqual({ StringLike: { 's3:RequestObjectTag/ssp-owner': 'AROATESTROLEID:i-*' } });
  });

  test('handed-over tasks expire after a day (lifecycle rule ExpireHandedOverTasks on pipeline/handoff/)', () => {
    activity().template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([{ Id: 'ExpireHandedOverTasks', Prefix: 'pipeline/handoff/', ExpirationInDays: 1, Status: 'Enabled' }]),
      },
    });
  });

  describe('without staging', () => {
    const s = synth({ taskHandoff: TaskHandoff.ACTIVITY });
    const definition = definitionOf(s.json, (id) => id.includes('StateMachine') && !id.includes('Cleanup'));

    test('creates a uniquely named activity and waits on it, with the heartbeat and job timeouts', () => {
      s.template.resourceCountIs('AWS::StepFunctions::Activity', 1);
      const resource = Object.values<any>(s.json.Resources).find((r) => r.Type === 'AWS::StepFunctions::Activity');
      expect(resource.Properties.Name).not.toBe('Monitor_Job');
      expect(s.pipeline.activity).toBeDefined();
      const pause = definition.States[STATES.PAUSE];
      expect(pause.Resource).toMatch(/^arn:aws:states:eu-west-1:111111111111:activity:/);
      expect(pause).toMatchObject({ HeartbeatSeconds: 300, TimeoutSeconds: 3600 });
    });

    test('each activity task names the instance it belongs to', async () => {
      const r = await runLocally(definition, { script: 'run.sh', args: ['a'] }, attemptHandlers([ok]));
      expect(r.status).toBe('SUCCEEDED');
      expect(r.calls[STATES.PAUSE][0]).toMatchObject({ instanceId: instanceFor(1), executionName: 'exec-1', script: 'run.sh', args: ['a'], attempt: 1 });
      expect(r.calls[STATES.PAUSE][0].taskToken).toBeUndefined();
    });

    test('instances may poll this activity and hand drawn tasks over, tagged for their owner', () => {
      const { stack, pipeline } = s;
      s.template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: stack.resolve((pipeline.instanceRole.node.defaultChild as any).logicalId) }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Action: Match.arrayWith(['states:GetActivityTask']), Resource: stack.resolve(pipeline.activity!.activityArn) }),
            Match.objectLike({
              Sid: 'HandOverDrawnTasks',
              Action: ['s3:PutObject', 's3:PutObjectTagging'],
              Condition: { StringLike: { 's3:RequestObjectTag/ssp-owner': Match.anyValue() } },
            }),
          ]),
        },
      });
    });

    test('the bootstrap claims the task from the activity', () => {
      const userData = Buffer.from(definition.States[STATES.LAUNCH].Parameters.UserData, 'base64').toString();
      expect(userData).toMatch(/heartbeat\.js" claim-activity --activity-arn 'arn:aws:states:eu-west-1:111111111111:activity:/);
      expect(userData).not.toContain('pipeline/tasks/');
    });
  });
});

describe('the bootstrap in a sandbox: activity mode', () => {
  const ACTIVITY_ARN = 'arn:aws:states:eu-west-1:111111111111:activity:jobs';
  const script = renderBootstrap({ ...RENDER_OPTIONS, activityArn: ACTIVITY_ARN });
  const objects = () => {
    const o = jobObjects();
    delete o[TASK_KEY];
    return o;
  };
  const CLAIM = [
    'claim-activity', '--activity-arn', ACTIVITY_ARN, '--instance-id', INSTANCE_ID, '--bucket', BUCKET,
    '--owner-tag-value', `${RENDER_OPTIONS.roleId}:${INSTANCE_ID}`, '--out', '$WORK/task.json', '--wait-seconds', '3600',
  ];

  test('claims the task in the background, goes on once the task file appears, and lets the claimer finish before reporting', () => {
    // The claimer lingers 8 s after writing the task file, like a claimer whose last poll is still in flight: long enough
    // that the bootstrap reaches the job even on a loaded machine (0.5 s was not, under a parallel test run; 3 s was
    // not once the bootstrap heartbeated and checked the bucket's owner before the job).
    const r = runSandbox({
      script,
      objects: objects(),
      env: { SSP_CLAIM_TASK: taskDocument('jobs/nightly.sh'), SSP_CLAIM_DELAY: '0.5', SSP_CLAIM_LINGER: '8', SSP_MARK_REPORT: '1' },
    });
    const calls = heartbeatCalls(r);
    expect(calls.map((c) => c[0])).toEqual(['claim-activity', 'run']);
    expect(calls[0]).toEqual(CLAIM);

    const claim = callIndex(r, isHeartbeat('claim-activity'));
    const runtime = callIndex(r, (c) => c[0] === 'aws' && c.includes('$WORK/heartbeat.js'));
    const readTask = callIndex(r, (c) => c[0] === 'node' && c[1] === '-e' && c.includes('$WORK/task.json'));
    expect(runtime).toBeGreaterThanOrEqual(0);
    expect(claim).toBeGreaterThan(runtime);
    expect(readTask).toBeGreaterThan(claim);
    // The bootstrap kept waiting (sleep 1) while the claimer ran in the background.
    expect(r.calls.slice(claim, readTask).filter((c) => c[0] === 'sleep').length).toBeGreaterThanOrEqual(1);
    // No task document is read from the bucket in activity mode.
    expect(summary(r).filter((l) => l.includes('pipeline/tasks/'))).toEqual([]);

    const lines = summary(r);
    expect(lines).toContain(`aws s3 cp --recursive s3://${BUCKET}/jobs/ $WORK/job/jobs/`);
    // The before-report hook waited for the claimer's last poll to be handed over.
    expect(lines.indexOf('claimer-exit')).toBeGreaterThan(lines.indexOf('heartbeat run'));
    expect(lines.indexOf('report')).toBeGreaterThan(lines.indexOf('claimer-exit'));
    expect(lines.at(-1)).toBe('poweroff');
  });

  test('when the claimer exits without a task file: powers off without running anything', () => {
    const r = runSandbox({ script, objects: objects(), env: { SSP_CLAIM_DELAY: '0.3' } });
    expect(heartbeatCalls(r)).toEqual([CLAIM]);
    expect(r.output).toContain('[bootstrap] no activity task for this instance');
    const lines = summary(r);
    expect(lines.filter((l) => l.includes('--recursive'))).toEqual([]);
    // No execution known: only the instance's own folder gets the logs.
    expect(lines.filter((l) => l.includes('pipeline/runs/') && !l.includes(`/pipeline/runs/${RENDER_OPTIONS.roleId}:${INSTANCE_ID}/`))).toEqual([]);
    expect(lines.at(-1)).toBe('poweroff');
    expect(r.status).not.toBe(0);
  });

  test('the bootstrap heartbeats from bash only once it holds the claimed task (the activity\'s timers start at the claim)', () => {
    const r = runSandbox({ script, objects: objects(), env: { SSP_CLAIM_TASK: taskDocument('jobs/nightly.sh'), SSP_CLAIM_LINGER: '1' } });
    const claim = callIndex(r, isHeartbeat('claim-activity'));
    const [first] = bashHeartbeats(r);
    expect(first).toBeGreaterThan(claim);
    expect(sfnRequests(r)[0]).toEqual({ command: 'send-task-heartbeat', request: { taskToken: 'token-exec-1' } });
    expect(modeOf(r, 'task.json')).toBe('600');
    expect(heartbeatCalls(r).map((c) => c[0])).toEqual(['claim-activity', 'run']);
  });

  test('the phase lines come in activity order: the runtime is there before the task', () => {
    const r = runSandbox({ script, objects: objects(), env: { SSP_CLAIM_TASK: taskDocument('jobs/nightly.sh'), SSP_RUN_JOB: '1' } });
    const phases = runLog(r).split('\n').filter((l) => l.startsWith('ssp-phase ')).map((l) => l.split(' ')[1]);
    expect(phases).toEqual(['userdata-start', 'node-ready', 'runtime-fetched', 'task-read', 'first-heartbeat', 'job-start']);
    expect([...phases].sort()).toEqual([...BOOT_PHASES].sort());
    expect(fs.readFileSync(path.join(r.s3, RUN_PREFIX, 'output.log'), 'utf8')).toMatch(/^ssp-phase userdata-start \d{13}\n/);
  });

  test('a tampered runtime is not run, so nothing claims the task: the instance powers off and the execution times out', () => {
    const r = runSandbox({ script, objects: { ...objects(), [RUNTIME_KEY]: '// not the runtime' }, env: { SSP_CLAIM_TASK: taskDocument('jobs/nightly.sh') } });
    expect(heartbeatCalls(r)).toEqual([]);
    expect(sfnRequests(r)).toEqual([]);
    expect(r.output).toContain('as synthesized: it was not run');
    expect(r.output).toContain('[bootstrap] no task to report to');
    expect(summary(r).at(-1)).toBe('poweroff');
  });

  test('a job bucket of another account (the task came from the activity): refused before any of its files is read, Bootstrap.Failed', () => {
    const r = runSandbox({ script, objects: objects(), env: { SSP_CLAIM_TASK: taskDocument('jobs/nightly.sh'), SSP_FOREIGN_BUCKETS: BUCKET } });
    expect(heartbeatCalls(r).map((c) => c.slice(0, 5))).toEqual([
      expect.arrayContaining(['claim-activity']),
      ['fail', '--task-file', '$WORK/task.json', '--error', 'Bootstrap.Failed'],
    ]);
    expect(heartbeatCalls(r)[1].at(-1)).toBe(`the job bucket ${BUCKET} is not a bucket of account ${RENDER_OPTIONS.accountId}`);
    expect(summary(r).filter((l) => l.includes('--recursive'))).toEqual([]);
  });
});
