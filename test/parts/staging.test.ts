/**
 * parts/staging: staging.inputPrefixes and staging.outputPrefix. Their checks, the write grant, and the bootstrap's
 * copies and wrapper, read from the template and run in a sandbox.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Lazy } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { TaskHandoff } from '../../src';
import { Staging } from '../../src/parts/staging';
import { renderBootstrap } from '../support/bootstrap';
import { runLocally } from '../support/local-sfn';
import { resourcesAllowed, templateStatementsOf } from '../support/policies';
import { happyHandlers, INSTANCE, notifications } from '../support/run-handlers';
import { BUCKET, cleanupSandboxes, heartbeatCalls, INSTANCE_ID, jobObjects, RENDER_OPTIONS, RUN_PREFIX, runSandbox, summary } from '../support/sandbox';
import { cfn, definitionOf, expectRejected, heredoc, lazySynth, resolveIntrinsics, runMachineId, synth, Synthesized, userDataOf, value } from '../support/template';

afterAll(cleanupSandboxes);

const defaults = lazySynth({});
const runDefinitionOf = (s: Synthesized) => definitionOf(s.json, (id) => id === runMachineId(s));

describe('checks', () => {
  test('accept prefixes outside pipeline/, with or without slashes', () => {
    expect(Staging.problems({ staging: { inputPrefixes: ['in/a', '/in/b/'], outputPrefix: '/results/' } })).toEqual([]);
  });

  test('do not check values that are tokens', () => {
    expect(Staging.problems({ staging: { outputPrefix: Lazy.string({ produce: () => 'pipeline/' }) } })).toEqual([]);
  });

  test("the construct fails when a staging input prefix is under 'pipeline/', naming which one", () => {
    expectRejected({ staging: { inputPrefixes: ['pipeline/x'] } }, /'staging\.inputPrefixes\[0\]' must be a prefix of the job bucket outside 'pipeline\/'.*got 'pipeline\/x'/);
    expectRejected({ staging: { inputPrefixes: ['in/', 'pipeline/x'] } }, /'staging\.inputPrefixes\[1\]' must be a prefix/);
  });

  test("the construct fails when staging.outputPrefix climbs out with '..'", () => {
    expectRejected({ staging: { outputPrefix: '../up' } }, /'staging\.outputPrefix' must be a prefix of the job bucket outside 'pipeline\/' .*without '\.\.', got '\.\.\/up'/);
  });

  test.each([
    ['out/', ['out/in/'], /'staging\.outputPrefix' \('out\/'\) contains 'staging\.inputPrefixes\[0\]' \('out\/in\/'\)/],
    ['data/out', ['other/', 'data'], /'staging\.outputPrefix' \('data\/out'\) is inside 'staging\.inputPrefixes\[1\]' \('data'\)/],
    ['/shared/', ['shared'], /'staging\.outputPrefix' \('\/shared\/'\) is the same folder as 'staging\.inputPrefixes\[0\]' \('shared'\)/],
  ])('the construct fails when the output prefix %p overlaps an input prefix (%p), naming both', (outputPrefix, inputPrefixes, message) => {
    expectRejected({ staging: { outputPrefix, inputPrefixes } }, message);
    expect(Staging.problems({ staging: { outputPrefix, inputPrefixes } }).join('\n')).toMatch(/every run may write under 'staging\.outputPrefix', so it must not overlap/);
  });

  test('folders are compared whole: out/ and output/ do not overlap, nor do inputs with each other', () => {
    expect(Staging.problems({ staging: { outputPrefix: 'out', inputPrefixes: ['output/', 'outs', 'in/a', 'in/a/b'] } })).toEqual([]);
  });
});

// ---- staging ---------------------------------------------------------------------------------------------

describe('staging', () => {
  const staged = lazySynth({ staging: { inputPrefixes: ['in/a', '/in/b/'], outputPrefix: 'results/' } });

  const COPY_IN = (prefix: string) =>
    `aws s3 cp --only-show-errors --recursive "s3://$BUCKET/${prefix}/" "$SSP_INPUT_DIR/${prefix}/" --exclude 'pipeline/*' ||`;
  const RUN = '"$NODE" "$WORK/heartbeat.js" run --task-file "$TASK"';

  test('the bootstrap copies each input prefix (slashes trimmed) to $SSP_INPUT_DIR/<prefix>/ before the job runs', () => {
    const lines = userDataOf(staged()).split('\n');
    const at = (line: string) => lines.indexOf(line);
    expect(at(COPY_IN('in/a'))).toBeGreaterThan(0);
    expect(at(COPY_IN('in/b'))).toBeGreaterThan(at(COPY_IN('in/a')));
    expect(at('mkdir -p "$SSP_INPUT_DIR" "$SSP_OUTPUT_DIR"')).toBeLessThan(at(COPY_IN('in/a')));
    expect(lines.findIndex((l) => l.startsWith(RUN))).toBeGreaterThan(at(COPY_IN('in/b')));
  });

  test("the bootstrap wraps the job to copy $SSP_OUTPUT_DIR to the instance's own <outputPrefix>/<RoleId>:<InstanceId>/<execution>/ after it succeeds", () => {
    const script = userDataOf(staged());
    expect(script).toContain('export SSP_OUTPUT_URL="s3://$BUCKET/results/$ROLE_ID:$IID/$EXECUTION/"');
    expect(script).toMatch(/^JOB_CMD=\(\/bin\/bash "\$WORK\/run-job\.sh" "\$JOB"\)$/m);
    const wrapper = heredoc(script, 'run-job.sh', 'WRAPPER').split('\n');
    expect(wrapper.slice(0, 4)).toEqual([
      '#!/bin/bash',
      'job="$1"; shift',
      '/bin/bash "$job" "$@" || exit $?',
      'aws s3 cp --only-show-errors --recursive "$SSP_OUTPUT_DIR" "$SSP_OUTPUT_URL" ||',
    ]);
    expect(wrapper[4]).toMatch(/exit 97; }$/);
  });

  test('activity mode stages the same way', () => {
    const s = synth({ taskHandoff: TaskHandoff.ACTIVITY, staging: { inputPrefixes: ['in/a'], outputPrefix: 'results' } });
    const script = userDataOf(s);
    expect(script).toContain('heartbeat.js" claim-activity');
    expect(script.split('\n')).toContain(COPY_IN('in/a'));
    expect(script).toContain('export SSP_OUTPUT_URL="s3://$BUCKET/results/$ROLE_ID:$IID/$EXECUTION/"');
    expect(script).toMatch(/^JOB_CMD=\(\/bin\/bash "\$WORK\/run-job\.sh" "\$JOB"\)$/m);
  });

  test('the instance role may put objects in its own folder under <outputPrefix>/ (<outputPrefix>/${aws:userid}/*) only', () => {
    const s = staged();
    s.template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [cfn(s, s.pipeline.instanceRole.roleName)],
      PolicyDocument: {
        Statement: Match.arrayWith([
          { Sid: 'WriteOwnStagedOutput', Effect: 'Allow', Action: 's3:PutObject', Resource: cfn(s, s.pipeline.bucket.arnForObjects('results/${aws:userid}/*')) },
        ]),
      },
    });
    const bucket = resolveIntrinsics(cfn(s, s.pipeline.bucket.bucketArn), s.json.Resources);
    expect(resourcesAllowed(s, s.pipeline.instanceRole, 's3:PutObject').filter((r) => !r.includes('/pipeline/'))).toEqual([`${bucket}/results/\${aws:userid}/*`]);
  });

  test('the success notification names where the outputs went, the same folder the bootstrap copies to', async () => {
    const r = await runLocally(runDefinitionOf(staged()), { script: 'jobs/nightly.sh' }, happyHandlers());
    expect(r.status).toBe('SUCCEEDED');
    expect(notifications(r)[0].Message.outputLocation).toBe(`s3://${value(staged(), staged().pipeline.bucket.bucketName)}/results/AROATESTROLEID:${INSTANCE}/exec-1/`);
    // Without an output prefix there is nothing to name.
    const plain = await runLocally(runDefinitionOf(defaults()), { script: 'jobs/nightly.sh' }, happyHandlers());
    expect(Object.keys(notifications(plain)[0].Message)).not.toContain('outputLocation');
  });

  test('default: no wrapper and no copies, but both staging directories are still created and exported', () => {
    const s = defaults();
    const script = userDataOf(s);
    const lines = script.split('\n');
    expect(lines).toContain('export SSP_INPUT_DIR="$WORK/input" SSP_OUTPUT_DIR="$WORK/output"');
    expect(lines).toContain('mkdir -p "$SSP_INPUT_DIR" "$SSP_OUTPUT_DIR"');
    expect(lines).toContain('JOB_CMD=(/bin/bash "$JOB")');
    expect(script).not.toContain('run-job.sh');
    expect(script).not.toContain('SSP_OUTPUT_URL');
    expect(script).not.toContain('"$SSP_INPUT_DIR/');
    const bucket = resolveIntrinsics(cfn(s, s.pipeline.bucket.bucketArn), s.json.Resources);
    expect(resourcesAllowed(s, s.pipeline.instanceRole, 's3:PutObject')).toEqual([`${bucket}/pipeline/runs/\${aws:userid}/*`]);
    expect(templateStatementsOf(s, s.pipeline.instanceRole).filter((st) => st.Sid === 'WriteOwnStagedOutput')).toEqual([]);
  });
});

describe('the bootstrap in a sandbox: staging', () => {
  const script = renderBootstrap({ ...RENDER_OPTIONS, heartbeatSeconds: '1', stagingInputs: ['in/a', 'in/b'], stagingOutput: 'results' });
  const JOB = [
    'set -e',
    '[ -f "$SSP_INPUT_DIR/in/a/one.csv" ] && [ -f "$SSP_INPUT_DIR/in/a/deep/two.csv" ]',
    'cat "$SSP_INPUT_DIR/in/b/three.txt" > "$SSP_OUTPUT_DIR/result.txt"',
    'mkdir -p "$SSP_OUTPUT_DIR/sub"',
    'echo nested > "$SSP_OUTPUT_DIR/sub/x.txt"',
    'exit "${JOB_EXIT:-0}"',
    '',
  ].join('\n');
  const objects = {
    ...jobObjects(),
    [`${BUCKET}/jobs/nightly.sh`]: JOB,
    [`${BUCKET}/in/a/one.csv`]: '1\n',
    [`${BUCKET}/in/a/deep/two.csv`]: '2\n',
    [`${BUCKET}/in/b/three.txt`]: 'three\n',
    [`${BUCKET}/in/c/not-staged.txt`]: 'no\n',
  };
  const COPY_IN = (p: string) => `aws s3 cp --recursive s3://${BUCKET}/${p}/ $WORK/input/${p}/ --exclude pipeline/*`;
  const OWN_FOLDER = `results/${RENDER_OPTIONS.roleId}:${INSTANCE_ID}/exec-1`;
  const COPY_OUT = `aws s3 cp --recursive $WORK/output s3://${BUCKET}/${OWN_FOLDER}/`;

  test('copies each input prefix to $SSP_INPUT_DIR/<prefix>/ before the job, which runs through the wrapper', () => {
    const r = runSandbox({ script, objects, env: { SSP_RUN_JOB: '1' } });
    const lines = summary(r);
    expect(lines.indexOf(COPY_IN('in/a'))).toBeGreaterThan(lines.indexOf(`aws s3 cp --recursive s3://${BUCKET}/jobs/ $WORK/job/jobs/ --exclude pipeline/*`));
    expect(lines.indexOf(COPY_IN('in/b'))).toBeGreaterThan(lines.indexOf(COPY_IN('in/a')));
    expect(lines.indexOf('heartbeat run')).toBeGreaterThan(lines.indexOf(COPY_IN('in/b')));
    expect(fs.readFileSync(path.join(r.work, 'input/in/a/deep/two.csv'), 'utf8')).toBe('2\n');
    expect(fs.existsSync(path.join(r.work, 'input/in/c'))).toBe(false);
    const [run] = heartbeatCalls(r);
    // job-start.sh marks the job's start in the run log and execs the rest (the bootstrap's boot phases).
    expect(run.slice(run.indexOf('--'))).toEqual(['--', '/bin/bash', '$WORK/job-start.sh', '/bin/bash', '$WORK/run-job.sh', '$WORK/job/jobs/nightly.sh']);
    expect(r.sidecar('job-status')).toBe('0\n');
  });

  test("a job that succeeds: $SSP_OUTPUT_DIR lands in the instance's own <outputPrefix>/<RoleId>:<InstanceId>/<execution>/, before the result is reported", () => {
    const r = runSandbox({ script, objects, env: { SSP_RUN_JOB: '1' } });
    const out = path.join(r.s3, BUCKET, ...OWN_FOLDER.split('/'));
    expect(fs.readFileSync(path.join(out, 'result.txt'), 'utf8')).toBe('three\n');
    expect(fs.readFileSync(path.join(out, 'sub', 'x.txt'), 'utf8')).toBe('nested\n');
    const lines = summary(r);
    // Inside the job: after the run starts, before the before-report hook uploads the log.
    expect(lines.indexOf(COPY_OUT)).toBeGreaterThan(lines.indexOf('heartbeat run'));
    expect(lines.indexOf(COPY_OUT)).toBeLessThan(lines.indexOf(`aws s3 cp $WORK/output.log s3://${RUN_PREFIX}/output.log`));
  });

  test('a job that fails: its exit status stands and nothing is copied out', () => {
    const r = runSandbox({ script, objects, env: { SSP_RUN_JOB: '1', JOB_EXIT: '3' } });
    expect(r.sidecar('job-status')).toBe('3\n');
    expect(summary(r)).not.toContain(COPY_OUT);
    expect(fs.existsSync(path.join(r.s3, BUCKET, 'results'))).toBe(false);
  });

  test('a job that succeeds but whose output cannot be copied out fails with exit 97', () => {
    const r = runSandbox({ script, objects, env: { SSP_RUN_JOB: '1', SSP_FAIL_COPY_TO: `s3://${BUCKET}/results/*` } });
    expect(summary(r)).toContain(COPY_OUT);
    expect(r.sidecar('job-status')).toBe('97\n');
    expect(fs.readFileSync(path.join(r.s3, RUN_PREFIX, 'output.log'), 'utf8')).toContain(
      `[bootstrap] could not copy ${path.join(r.work, 'output')} to s3://${BUCKET}/${OWN_FOLDER}/`,
    );
  });

  test('an input prefix that cannot be copied: reports Bootstrap.Failed naming it, runs nothing', () => {
    const r = runSandbox({ script, objects, env: { SSP_RUN_JOB: '1', SSP_FAIL_COPY_FROM: `s3://${BUCKET}/in/b/` } });
    expect(heartbeatCalls(r)).toEqual([
      ['fail', '--task-file', '$WORK/task.json', '--error', 'Bootstrap.Failed', '--cause', `could not stage s3://${BUCKET}/in/b/ in`],
    ]);
    expect(r.sidecar('job-status')).toBeUndefined();
    expect(summary(r).at(-1)).toBe('poweroff');
  });

  test('without staging: both directories exist and are exported to the job, which runs directly', () => {
    const job = 'echo "input=$SSP_INPUT_DIR output=$SSP_OUTPUT_DIR"; [ -d "$SSP_INPUT_DIR" ] && [ -d "$SSP_OUTPUT_DIR" ]\n';
    const r = runSandbox({
      script: renderBootstrap({ ...RENDER_OPTIONS, heartbeatSeconds: '1' }),
      objects: { ...jobObjects(), [`${BUCKET}/jobs/nightly.sh`]: job },
      env: { SSP_RUN_JOB: '1' },
    });
    expect(r.sidecar('job-status')).toBe('0\n');
    expect(fs.readFileSync(path.join(r.s3, RUN_PREFIX, 'output.log'), 'utf8')).toContain(
      `input=${path.join(r.work, 'input')} output=${path.join(r.work, 'output')}`,
    );
    expect(heartbeatCalls(r)[0].slice(-5)).toEqual(['--', '/bin/bash', '$WORK/job-start.sh', '/bin/bash', '$WORK/job/jobs/nightly.sh']);
  });
});
