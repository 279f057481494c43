/**
 * Issue 12's threat model, asked of the IAM simulator (@cloud-copilot/iam-simulate, test/support/iam.ts): a hostile job
 * runs as root on instance A with the instance role's credentials (from IMDS), so it can send any request the role's
 * session may send. For three constructs (the default, staging with jobLogRetention, activity mode) these tests ask,
 * with the synthesized identity policies and the job bucket's policy, what that session may do to another instance B's
 * objects, next to the same request for A's own (so a test fails if a grant goes missing as well as if one is too
 * wide). A role of the user's that was given `bucket.grantRead()` is asked too, and so is the state machine role, which
 * writes the task documents.
 *
 * S3 puts the object's tags in the request context (`s3:ExistingObjectTag/<key>`) for the actions that take them, and
 * the request's tags (`s3:RequestObjectTag/<key>`) and If-None-Match header (`s3:if-none-match`) for PutObject; the
 * simulator refuses a key that does not apply to the action, so each request carries only the keys S3 would send.
 */
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { ShellScriptPipeline, ShellScriptPipelineProps, TaskHandoff } from '../../src';
import { Decision, evaluate, instanceRolePolicies } from '../support/iam';
import { resolveIntrinsics, TEST_ENV, userDataOf } from '../support/template';

const A = 'i-0aaaaaaaaaaaaaaaa';
const B = 'i-0bbbbbbbbbbbbbbbb';
const OWNER = 's3:ExistingObjectTag/ssp-owner';
const NEW_OWNER = 's3:RequestObjectTag/ssp-owner';

/** Someone sending requests: the principal (a role session), the request context it always carries, its identity policy. */
interface Caller {
  readonly principal: string;
  readonly context: Record<string, string>;
  readonly statements: any[];
}

/** A pipeline in a stack, with a role of the user's that was given `pipeline.bucket.grantRead()`. */
function build(props: ShellScriptPipelineProps) {
  const stack = new Stack(new App(), 'TestStack', { env: TEST_ENV });
  const pipeline = new ShellScriptPipeline(stack, 'Nightly', props);
  const reader = new iam.Role(stack, 'Reader', { assumedBy: new iam.AccountRootPrincipal() });
  pipeline.bucket.grantRead(reader);
  const template = Template.fromStack(stack);
  const json = template.toJSON();
  const resources = json.Resources;
  const instance = instanceRolePolicies(json);
  // Where an instance's bootstrap uploads its log: the run folder, whatever its layout (RUN_PREFIX="...").
  const runPrefix = /^RUN_PREFIX="([^"]+)"$/m.exec(userDataOf({ app: stack.node.root as App, stack, pipeline, template, json }))![1];

  /** A session of the role with logical ID `roleId`, with the statements of the one policy attached to it. */
  const sessionOf = (roleId: string, sessionName: string, uniqueId: string): Caller => {
    const policies = Object.values<any>(resources).filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles) === JSON.stringify([{ Ref: roleId }]));
    expect(policies).toHaveLength(1);
    const roleArn: string = resolveIntrinsics({ 'Fn::GetAtt': [roleId, 'Arn'] }, resources);
    return {
      principal: `arn:aws:sts::${TEST_ENV.account}:assumed-role/${roleArn.split('/').pop()}/${sessionName}`,
      // aws:PrincipalArn is the role's ARN for a role session (IAM User Guide, global condition keys).
      context: { 'aws:userid': `${uniqueId}:${sessionName}`, 'aws:SecureTransport': 'true', 'aws:PrincipalArn': roleArn },
      statements: resolveIntrinsics(policies[0].Properties.PolicyDocument.Statement, resources),
    };
  };
  const logicalId = (token: string) => stack.resolve(token).Ref as string;
  const instanceSession = (id: string): Caller => ({ ...instance.session(id), statements: instance.statements });

  return {
    pipeline,
    roleId: instance.roleId,
    /** The run folder the bootstrap of instance `id` writes to in execution `execution`. */
    runFolder: (id: string, execution: string) =>
      runPrefix.replace('$EXECUTION', execution).replace('$ROLE_ID', instance.roleId).replace('$IID', id),
    a: instanceSession(A),
    b: instanceSession(B),
    reader: sessionOf(logicalId(reader.roleName), 'reporting', 'AROAREADERROLE'),
    stateMachine: sessionOf(logicalId(pipeline.stateMachine.role.roleName), 'run-1', 'AROASTATEMACHINE'),
    /** Asks the simulator: may `caller` do `action` on `key` of the job bucket, with these extra request keys? */
    decide: (caller: Caller, action: string, key: string, extra: Record<string, string | undefined> = {}): Promise<Decision> =>
      evaluate(caller.statements, {
        principal: caller.principal,
        action,
        resource: `${instance.bucketArn}/${key}`,
        context: { ...caller.context, ...extra },
        resourcePolicy: instance.bucketPolicy,
      }),
  };
}

const CONSTRUCTS: Record<string, ShellScriptPipelineProps> = {
  'default': {},
  'staging + jobLogRetention': {
    staging: { inputPrefixes: ['in/'], outputPrefix: 'out/' },
    jobLogRetention: logs.RetentionDays.ONE_WEEK,
    scriptsPath: path.join(__dirname, '..', 'fixtures', 'scripts'),
  },
  'activity mode': { taskHandoff: TaskHandoff.ACTIVITY },
};

describe.each(Object.keys(CONSTRUCTS))('%s construct', (name) => {
  const built = build(CONSTRUCTS[name]);
  const { a, b, reader, stateMachine, decide, roleId, runFolder } = built;
  const owner = (id: string) => `${roleId}:${id}`;
  const tokens = [`pipeline/tasks/${B}.json`, `pipeline/handoff/${B}.json`];
  const staging = name.startsWith('staging');
  const activity = name === 'activity mode';

  describe('a job on instance A', () => {
    test('cannot overwrite scripts, under scriptsPrefix or at the bucket root; can write its own run log', async () => {
      for (const key of ['scripts/hello.sh', 'hello.sh', 'jobs/nightly.sh']) {
        expect({ key, decision: await decide(a, 's3:PutObject', key) }).toEqual({ key, decision: expect.stringMatching(/Denied$/) });
      }
      expect(await decide(a, 's3:PutObject', `${runFolder(A, 'exec-1')}/output.log`)).toBe('Allowed');
    });

    test("cannot read B's task document or hand-off (nor one not tagged yet); can read its own", async () => {
      for (const key of tokens) {
        expect(await decide(a, 's3:GetObject', key, { [OWNER]: owner(B) })).toBe('ExplicitlyDenied');
        expect(await decide(a, 's3:GetObject', key, { [OWNER]: undefined })).toBe('ExplicitlyDenied');
        expect(await decide(a, 's3:GetObject', key.replace(B, A), { [OWNER]: owner(A) })).toBe('Allowed');
      }
    });

    test("cannot retag B's task document or hand-off to itself (so it could then read it), nor remove the tag", async () => {
      for (const key of tokens) {
        for (const action of ['s3:PutObjectTagging', 's3:DeleteObjectTagging']) {
          const extra = action === 's3:PutObjectTagging' ? { [OWNER]: owner(B), [NEW_OWNER]: owner(A) } : { [OWNER]: owner(B) };
          expect({ key, action, decision: await decide(a, action, key, extra) }).toEqual({ key, action, decision: 'ExplicitlyDenied' });
        }
      }
    });

    test("cannot overwrite B's task document, or a hand-over already there, with a forged one", async () => {
      expect(await decide(a, 's3:PutObject', tokens[0])).toMatch(/Denied$/);
      expect(await decide(a, 's3:PutObject', tokens[0], { 's3:if-none-match': '*', [NEW_OWNER]: owner(B) })).toMatch(/Denied$/);
      // A PutObject without If-None-Match may replace an object, and S3 ignores s3:ExistingObjectTag for PutObject:
      // in activity mode the bucket policy refuses it outright; without activity mode no grant allows it.
      expect(await decide(a, 's3:PutObject', tokens[1], { [NEW_OWNER]: owner(B) })).toBe(activity ? 'ExplicitlyDenied' : 'ImplicitlyDenied');
    });

    if (activity) {
      test('activity mode: may hand a drawn task over to B, only as a new object (If-None-Match: *) tagged for an instance of its role', async () => {
        const handOver = { 's3:if-none-match': '*', [NEW_OWNER]: owner(B) };
        expect(await decide(a, 's3:PutObject', tokens[1], handOver)).toBe('Allowed');
        // PutObject with Tagging also needs s3:PutObjectTagging; a new object has no owner tag yet.
        expect(await decide(a, 's3:PutObjectTagging', tokens[1], { [OWNER]: undefined, [NEW_OWNER]: owner(B) })).toBe('Allowed');
        expect(await decide(a, 's3:PutObject', tokens[1], { ...handOver, [NEW_OWNER]: `AROAOTHERROLE:${B}` })).toMatch(/Denied$/);
      });
    } else {
      test('task-token mode: may write no hand-over at all', async () => {
        expect(await decide(a, 's3:PutObject', tokens[1], { 's3:if-none-match': '*', [NEW_OWNER]: owner(B) })).toMatch(/Denied$/);
      });
    }

    test("cannot write into B's run folder, this execution's or another's; can write its own", async () => {
      for (const key of [`${runFolder(B, 'exec-1')}/output.log`, `${runFolder(B, 'exec-2')}/result.json`]) {
        expect({ key, decision: await decide(a, 's3:PutObject', key) }).toEqual({ key, decision: expect.stringMatching(/Denied$/) });
      }
      expect(await decide(a, 's3:PutObject', `${runFolder(A, 'exec-2')}/result.json`)).toBe('Allowed');
    });

    // The run-folder layout pipeline/runs/<RoleId>:<InstanceId>/<execution>/ with the grant pipeline/runs/${aws:userid}/*
    // (parts/instance.ts): the variable right after a fixed prefix. The earlier grant, pipeline/runs/*/${aws:userid}/*,
    // let A write anywhere below a folder named after itself, B's run folder included.
    test("cannot write into B's run folder at any depth, even below a folder named after A", async () => {
      for (const key of [`${runFolder(B, 'exec-1')}/x/${owner(A)}/y`, `pipeline/runs/${owner(B)}/x/${owner(A)}/y`]) {
        expect({ key, decision: await decide(a, 's3:PutObject', key) }).toEqual({ key, decision: expect.stringMatching(/Denied$/) });
      }
    });

    test("cannot write another execution's staged outputs (another instance's folder, before or after it ran)", async () => {
      const others = [`out/${owner(B)}/exec-1/result.csv`, `out/${owner(B)}/exec-2/next-run.csv`, 'out/exec-1/result.csv', 'out/result.csv', `out/x/${owner(A)}/y`];
      for (const key of others) {
        expect({ key, decision: await decide(a, 's3:PutObject', key) }).toEqual({ key, decision: expect.stringMatching(/Denied$/) });
      }
      // Its own folder, only with staging.outputPrefix.
      expect(await decide(a, 's3:PutObject', `out/${owner(A)}/exec-3/result.csv`)).toBe(staging ? 'Allowed' : 'ImplicitlyDenied');
    });

    test('cannot write the staging inputs', async () => {
      expect(await decide(a, 's3:PutObject', 'in/reference.csv')).toMatch(/Denied$/);
      expect(await decide(a, 's3:GetObject', 'in/reference.csv')).toBe('Allowed');
    });
  });

  describe('a role given bucket.grantRead()', () => {
    test('cannot read task documents or hand-offs, whoever they belong to', async () => {
      for (const key of [...tokens, `pipeline/tasks/${A}.json`]) {
        expect(await decide(reader, 's3:GetObject', key, { [OWNER]: owner(B) })).toBe('ExplicitlyDenied');
        expect(await decide(reader, 's3:GetObject', key, { [OWNER]: undefined })).toBe('ExplicitlyDenied');
      }
    });

    test('can read staged outputs, run logs and scripts', async () => {
      for (const key of [`out/${owner(A)}/exec-1/result.csv`, `${runFolder(A, 'exec-1')}/output.log`, 'scripts/hello.sh']) {
        expect({ key, decision: await decide(reader, 's3:GetObject', key) }).toEqual({ key, decision: 'Allowed' });
      }
    });

    test('the exception is the instance role only: with aws:PrincipalArn its session ARN, the instance still reads its own', async () => {
      const asSession = { ...a, context: { ...a.context, 'aws:PrincipalArn': a.principal } };
      expect(await decide(asSession, 's3:GetObject', `pipeline/tasks/${A}.json`, { [OWNER]: owner(A) })).toBe('Allowed');
      const readerAsSession = { ...reader, context: { ...reader.context, 'aws:PrincipalArn': reader.principal } };
      expect(await decide(readerAsSession, 's3:GetObject', `pipeline/tasks/${A}.json`, { [OWNER]: owner(A) })).toBe('ExplicitlyDenied');
    });
  });

  describe('the state machine role', () => {
    test('may write and tag a new task document, but not retag one that has an owner', async () => {
      const key = `pipeline/tasks/${B}.json`;
      if (!activity) {
        expect(await decide(stateMachine, 's3:PutObject', key, { [NEW_OWNER]: owner(B) })).toBe('Allowed');
        expect(await decide(stateMachine, 's3:PutObjectTagging', key, { [OWNER]: undefined, [NEW_OWNER]: owner(B) })).toBe('Allowed');
      }
      expect(await decide(stateMachine, 's3:PutObjectTagging', key, { [OWNER]: owner(B), [NEW_OWNER]: owner(A) })).toBe('ExplicitlyDenied');
      expect(await decide(stateMachine, 's3:GetObject', key, { [OWNER]: owner(B) })).toBe('ExplicitlyDenied');
    });
  });

  test('B is asked the same questions about A and gets the same answers (the policies name no instance)', async () => {
    expect(await decide(b, 's3:GetObject', `pipeline/tasks/${A}.json`, { [OWNER]: owner(A) })).toBe('ExplicitlyDenied');
    expect(await decide(b, 's3:GetObject', `pipeline/tasks/${B}.json`, { [OWNER]: owner(B) })).toBe('Allowed');
  });
});

describe('another pipeline in the same account', () => {
  // Two pipelines in one stack; the second one's instances were even given read on the first one's bucket.
  const stack = new Stack(new App(), 'TestStack', { env: TEST_ENV });
  const first = new ShellScriptPipeline(stack, 'Nightly', { taskHandoff: TaskHandoff.ACTIVITY });
  const second = new ShellScriptPipeline(stack, 'Hourly', {});
  first.bucket.grantRead(second.instanceRole);
  const resources = Template.fromStack(stack).toJSON().Resources;
  const id = (token: string) => stack.resolve(token).Ref as string;
  const bucketId = id(first.bucket.bucketName);
  const bucketArn = `arn:aws:s3:::ref-${bucketId}`;
  const bucketPolicy = resolveIntrinsics(
    Object.values<any>(resources).find((r) => r.Type === 'AWS::S3::BucketPolicy' && r.Properties.Bucket.Ref === bucketId).Properties.PolicyDocument,
    resources,
  );
  const instanceOf = (pipeline: ShellScriptPipeline, instanceId: string, uniqueId: string) => {
    const roleId = id(pipeline.instanceRole.roleName);
    const policy = Object.values<any>(resources).find((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles) === JSON.stringify([{ Ref: roleId }]));
    return {
      principal: `arn:aws:sts::${TEST_ENV.account}:assumed-role/${roleId}/${instanceId}`,
      context: { 'aws:userid': `${uniqueId}:${instanceId}`, 'aws:SecureTransport': 'true', 'aws:PrincipalArn': `arn:aws:iam::${TEST_ENV.account}:role/${roleId}` },
      statements: resolveIntrinsics(policy.Properties.PolicyDocument.Statement, resources),
    };
  };
  // resolveIntrinsics gives every role the RoleId AROATESTROLEID; the instance IDs keep the two sessions apart.
  const mine = instanceOf(first, A, 'AROATESTROLEID');
  const theirs = instanceOf(second, B, 'AROATESTROLEID');
  const ask = (caller: Caller, action: string, key: string, extra: Record<string, string | undefined> = {}) =>
    evaluate(caller.statements, { principal: caller.principal, action, resource: `${bucketArn}/${key}`, context: { ...caller.context, ...extra }, resourcePolicy: bucketPolicy });

  test("cannot read this pipeline's task documents or hand-offs, even with read on its bucket; this pipeline's instance can", async () => {
    for (const key of [`pipeline/tasks/${A}.json`, `pipeline/handoff/${A}.json`]) {
      expect(await ask(theirs, 's3:GetObject', key, { [OWNER]: `AROATESTROLEID:${A}` })).toBe('ExplicitlyDenied');
      // Not even one tagged with its own aws:userid: the bucket only serves tokens to this pipeline's instance role.
      expect(await ask(theirs, 's3:GetObject', key, { [OWNER]: `AROATESTROLEID:${B}` })).toBe('ExplicitlyDenied');
      expect(await ask(mine, 's3:GetObject', key, { [OWNER]: `AROATESTROLEID:${A}` })).toBe('Allowed');
    }
    expect(await ask(theirs, 's3:GetObject', 'scripts/hello.sh')).toBe('Allowed');
  });

  test('cannot hand a task over into this pipeline, nor write anywhere in its bucket', async () => {
    const handOver = { 's3:if-none-match': '*', [NEW_OWNER]: `AROATESTROLEID:${A}` };
    expect(await ask(theirs, 's3:PutObject', `pipeline/handoff/${A}.json`, handOver)).toMatch(/Denied$/);
    expect(await ask(mine, 's3:PutObject', `pipeline/handoff/${A}.json`, handOver)).toBe('Allowed');
    expect(await ask(theirs, 's3:PutObject', 'scripts/hello.sh')).toMatch(/Denied$/);
  });
});
