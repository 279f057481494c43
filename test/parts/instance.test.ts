/**
 * parts/instance: the instance role and profile, and how an instance is launched (instanceType, machineImage,
 * rootDeviceName, rootVolumeSize, volumeKey), with the IAM RunInstances needs, and the checks. (Spot: instance-spot.test.ts.)
 */
import { CfnElement, CfnParameter, Lazy, Size, Stack, Token } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Instance, InstanceProps } from '../../src/parts/instance';
import { STATES } from '../../src/workflow/states';
import { evaluate, instanceRolePolicies } from '../support/iam';
import { nag, readable } from '../support/nag';
import { allStatements, ec2Arn, hasAction, roleStatements, Statement } from '../support/policies';
import {
  expectRejected,
  launchParameters,
  resolveIntrinsics,
  runMachineId,
  synth,
  Synthesized,
  TEST_ENV,
  testStack,
  value,
} from '../support/template';

const LINUX: ec2.MachineImageConfig = { imageId: 'ami-1', osType: ec2.OperatingSystemType.LINUX, userData: ec2.UserData.forLinux() };
const check = (props: InstanceProps, image = LINUX) => () => {
  const problems = Instance.problems(props, image);
  if (problems.length > 0) throw new Error(problems.join('\n'));
};

describe('checks', () => {
  test('accept the defaults and every value at the edge of its range', () => {
    expect(check({})).not.toThrow();
    expect(check({ rootVolumeSize: Size.gibibytes(16_384) })).not.toThrow();
    expect(check({ rootVolumeSize: Size.gibibytes(1) })).not.toThrow();
    expect(check({ spot: { maxPrice: '0.05' } })).not.toThrow();
    expect(check({ spot: { maxPrice: '1' } })).not.toThrow();
  });

  test.each([
    ['0 GiB', Size.gibibytes(0), '0 GiB'],
    ['16385 GiB', Size.gibibytes(16_385), '16385 GiB'],
    ['0.5 GiB', Size.gibibytes(0.5), '512 MiB \\(0.5 GiB\\)'],
    ['500 MiB', Size.mebibytes(500), '500 MiB \\(0.49 GiB\\)'],
  ])('fail when rootVolumeSize is %s, reporting it with units', (_label, size, got) => {
    expect(check({ rootVolumeSize: size })).toThrow(new RegExp(`'rootVolumeSize' must be a whole number of GiB from 1 GiB to 16384 GiB, got ${got}`));
  });

  test('fail when the image is not Linux', () => {
    const windows = { ...LINUX, osType: ec2.OperatingSystemType.WINDOWS };
    expect(check({}, windows)).toThrow(/'machineImage' must be a Linux image: the bootstrap is a bash script/);
  });

  test('do not check values that are tokens', () => {
    const num = (n: number) => Token.asNumber(Lazy.number({ produce: () => n }));
    expect(check({ rootVolumeSize: Size.gibibytes(num(0)) })).not.toThrow();
    // And the construct takes such a size: the launch asks for it at deploy time.
    const s = synth({}, (stack) => ({ rootVolumeSize: Size.gibibytes(new CfnParameter(stack, 'RootGiB', { type: 'Number' }).valueAsNumber) }));
    expect(JSON.stringify(s.json.Resources[runMachineId(s)].Properties.DefinitionString)).toContain('VolumeSize\\":",{"Ref":"RootGiB"}');
    expect(check({ spot: { maxPrice: Lazy.string({ produce: () => 'cheap' }) } })).not.toThrow();
  });

  test('the construct fails when rootVolumeSize is 0', () => {
    expectRejected({ rootVolumeSize: Size.gibibytes(0) }, /'rootVolumeSize' must be a whole number of GiB from 1 GiB to 16384 GiB, got 0 GiB/);
  });

  test('the construct fails when rootVolumeSize is a fractional number of GiB', () => {
    expectRejected({ rootVolumeSize: Size.gibibytes(0.5) }, /'rootVolumeSize' must be a whole number of GiB/);
  });

  test('the construct fails when rootVolumeSize is given in MiB that are not whole GiB, naming the prop', () => {
    // Size.mebibytes(1536).toGibibytes() throws CDK's own conversion error before the props are validated.
    expectRejected({ rootVolumeSize: Size.mebibytes(1536) }, /'rootVolumeSize'/);
  });

  test('the construct fails when the machine image is Windows', () => {
    expectRejected(
      { machineImage: ec2.MachineImage.latestWindows(ec2.WindowsVersion.WINDOWS_SERVER_2022_ENGLISH_FULL_BASE) },
      /'machineImage' must be a Linux image: the bootstrap is a bash script/,
    );
  });

  test('the construct fails when spot.maxPrice is not a price', () => {
    expectRejected({ spot: { maxPrice: 'cheap' } }, /'spot\.maxPrice' must be a price in USD per hour like '0\.05', got 'cheap'/);
  });

  test('Instance.imageOf resolves the default image once per architecture', () => {
    const stack = testStack();
    const image = Instance.imageOf(stack, {});
    expect(image.osType).toBe(ec2.OperatingSystemType.LINUX);
    expect(stack.resolve(image.imageId)).toEqual({ Ref: expect.stringMatching(/^SsmParameterValue/) });
  });
});

describe('the run-folder grant, decided by the IAM simulator', () => {
  const role = instanceRolePolicies(synth().json);
  const me = role.session('i-0aaaaaaaaaaaaaaaa');
  const other = role.session('i-0bbbbbbbbbbbbbbbb');
  // An instance ID of the older 8-digit form is a prefix of no 17-digit one here, but a longer ID that starts with a
  // shorter one must not reach into its folder either.
  const longer = role.session('i-0aaaaaaaaaaaaaaaab');
  const put = (key: string) =>
    evaluate(role.statements, { principal: me.principal, action: 's3:PutObject', resource: `${role.bucketArn}/${key}`, context: me.context, resourcePolicy: role.bucketPolicy });

  test.each([
    ['its run log', () => `pipeline/runs/${me.userid}/exec-1/output.log`],
    ['its result', () => `pipeline/runs/${me.userid}/exec-1/result.json`],
    ['a file at any depth of its own folder', () => `pipeline/runs/${me.userid}/exec-1/a/b/c.txt`],
    ['its own folder, no execution', () => `pipeline/runs/${me.userid}/bootstrap.log`],
  ])('an instance may write %s', async (_what, key) => {
    await expect(put(key())).resolves.toBe('Allowed');
  });

  test.each([
    ["another instance's run log", () => `pipeline/runs/${other.userid}/exec-1/output.log`],
    ["its own userid as a folder inside another instance's folder", () => `pipeline/runs/${other.userid}/${me.userid}/y`],
    ["its own userid deeper inside another instance's folder", () => `pipeline/runs/${other.userid}/x/${me.userid}/y`],
    ['the old layout, under an execution folder', () => `pipeline/runs/exec-1/${me.userid}/output.log`],
    ['the folder of an instance whose userid starts with its own', () => `pipeline/runs/${longer.userid}/exec-1/output.log`],
    ['a sibling name that starts with its own userid', () => `pipeline/runs/${me.userid}x/exec-1/output.log`],
    ['the runs prefix itself', () => `pipeline/runs/${me.userid}`],
    ['a task document', () => 'pipeline/tasks/i-0aaaaaaaaaaaaaaaa.json'],
    ['a user script', () => 'jobs/nightly.sh'],
  ])('an instance may not write %s', async (_what, key) => {
    await expect(put(key())).resolves.toBe('ImplicitlyDenied');
  });
});

describe('with default props', () => {
  let s: Synthesized;
  let template: Template;
  beforeAll(() => {
    s = synth();
    template = s.template;
  });

  describe('the instance role', () => {
    let statements: Statement[];
    let bucketArn: string;
    beforeAll(() => {
      statements = roleStatements(s, s.pipeline.instanceRole);
      bucketArn = value(s, s.pipeline.bucket.bucketArn);
    });

    test('is trusted by ec2.amazonaws.com only', () => {
      const role = s.json.Resources[s.stack.resolve(s.pipeline.instanceRole.roleName).Ref];
      expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
        { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' } },
      ]);
    });

    test('may list the job bucket and read its objects', () => {
      expect(statements).toContainEqual(expect.objectContaining({ Effect: 'Allow', Action: ['s3:ListBucket'], Resource: [bucketArn] }));
      expect(statements).toContainEqual(expect.objectContaining({ Effect: 'Allow', Action: ['s3:GetObject'], Resource: [`${bucketArn}/*`] }));
    });

    test('is denied reading pipeline/ objects not tagged with its own aws:userid', () => {
      expect(statements).toContainEqual(
        expect.objectContaining({
          Effect: 'Deny',
          Action: expect.arrayContaining(['s3:GetObject']),
          Resource: [`${bucketArn}/pipeline/*`],
          Condition: { StringNotEquals: { 's3:ExistingObjectTag/ssp-owner': '${aws:userid}' } },
        }),
      );
    });

    test('may write only under pipeline/runs/${aws:userid}/, the policy variable right after the fixed prefix', () => {
      const writes = statements.filter((st) => st.Effect === 'Allow' && st.Action.some((a) => /^s3:(Put|Delete|\*)/i.test(a)));
      expect(writes).toEqual([expect.objectContaining({ Action: ['s3:PutObject'], Resource: [`${bucketArn}/pipeline/runs/\${aws:userid}/*`] })]);
    });

    test('may answer tasks of its own state machine only', () => {
      const answers = statements.filter((st) => st.Action.some((a) => a.startsWith('states:')));
      expect(answers).toEqual([
        expect.objectContaining({
          Effect: 'Allow',
          Action: expect.arrayContaining(['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat']),
          Resource: [value(s, s.pipeline.stateMachine.stateMachineArn)],
        }),
      ]);
    });

    test('has an instance profile, used by RunInstances', () => {
      const roleRef = s.stack.resolve(s.pipeline.instanceRole.roleName);
      template.hasResourceProperties('AWS::IAM::InstanceProfile', { Roles: [roleRef] });
      const [profileId] = Object.entries<any>(s.json.Resources).find(([, r]) => r.Type === 'AWS::IAM::InstanceProfile')!;
      expect(launchParameters(s).IamInstanceProfile).toEqual({ Arn: resolveIntrinsics({ 'Fn::GetAtt': [profileId, 'Arn'] }, s.json.Resources) });
    });
  });

  describe('what the state machine role may do to launch', () => {
    let statements: Statement[];
    beforeAll(() => {
      statements = roleStatements(s, s.pipeline.stateMachine.role);
    });

    test('may run instances only when they are tagged with the pipeline ID', () => {
      const onInstances = statements.filter((st) => hasAction(st, 'ec2:RunInstances') && st.Resource.includes(ec2Arn('instance/*')));
      expect(onInstances).toEqual([
        expect.objectContaining({
          Effect: 'Allow',
          Resource: [ec2Arn('instance/*')],
          Condition: { StringEquals: { 'aws:RequestTag/shell-script-pipeline:pipeline': s.pipeline.pipelineId } },
        }),
      ]);
    });

    test('other RunInstances resources are the subnets, the security group, the image, volumes and network interfaces', () => {
      const others = statements.filter((st) => hasAction(st, 'ec2:RunInstances') && !st.Resource.includes(ec2Arn('instance/*')));
      const resources = others.flatMap((st) => st.Resource).sort();
      const expected = [
        ...s.pipeline.vpc.publicSubnets.map((x) => ec2Arn(`subnet/${value(s, x.subnetId)}`)),
        ec2Arn(`security-group/${value(s, s.pipeline.securityGroup.securityGroupId)}`),
        `arn:aws:ec2:${TEST_ENV.region}::image/${launchParameters(s).ImageId}`,
        ec2Arn('volume/*'),
        ec2Arn('network-interface/*'),
      ].sort();
      expect(resources).toEqual(expected);
      expect(resources).not.toContain('*');
    });

    test('may pass only the instance role, only to EC2', () => {
      const passRole = statements.filter((st) => hasAction(st, 'iam:PassRole'));
      expect(passRole).toEqual([
        expect.objectContaining({
          Effect: 'Allow',
          Resource: [value(s, s.pipeline.instanceRole.roleArn)],
          Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
        }),
      ]);
    });

    test('may tag only what RunInstances creates', () => {
      for (const st of statements.filter((x) => hasAction(x, 'ec2:CreateTags'))) {
        expect(st.Condition).toEqual({ StringEquals: { 'ec2:CreateAction': 'RunInstances' } });
      }
    });

    test('may not create the Spot service-linked role without Spot', () => {
      expect(statements.filter((st) => hasAction(st, 'iam:CreateServiceLinkedRole'))).toEqual([]);
    });
  });

  describe("'Launch instance'", () => {
    let p: any;
    beforeAll(() => {
      p = launchParameters(s);
    });

    test('requires IMDSv2', () => {
      expect(p.MetadataOptions).toEqual(expect.objectContaining({ HttpTokens: 'required' }));
    });

    test('terminates the instance when it shuts itself down', () => {
      expect(p.InstanceInitiatedShutdownBehavior).toBe('terminate');
    });

    test('launches an encrypted gp3 root volume on /dev/xvda with the image size', () => {
      expect(p.BlockDeviceMappings).toEqual([
        { DeviceName: '/dev/xvda', Ebs: { Encrypted: true, DeleteOnTermination: true, VolumeType: 'gp3' } },
      ]);
    });

    test('tags the instance and its volume with the pipeline ID', () => {
      for (const type of ['instance', 'volume']) {
        const spec = p.TagSpecifications.find((t: any) => t.ResourceType === type);
        expect(spec.Tags).toContainEqual({ Key: 'shell-script-pipeline:pipeline', Value: s.pipeline.pipelineId });
      }
    });

    test('uses no key pair', () => {
      expect(p).not.toHaveProperty('KeyName');
      expect(JSON.stringify(s.json)).not.toMatch(/KeyName/);
    });

    test('uses t3.micro', () => {
      expect(p.InstanceType).toBe('t3.micro');
    });

    test('takes the image from the public SSM parameter of Amazon Linux 2023 x86_64, never a literal AMI ID', () => {
      const params = Object.entries<any>(s.json.Parameters).filter(([, v]) => v.Type === 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>');
      expect(params).toHaveLength(1);
      const [paramName, param] = params[0];
      expect(param.Default).toMatch(/al2023-ami.*x86_64/);
      const raw = JSON.stringify(s.json.Resources[runMachineId(s)].Properties.DefinitionString);
      expect(raw).toContain(JSON.stringify({ Ref: paramName }));
      expect(raw).not.toMatch(/ami-[0-9a-f]{8,}/);
    });
  });
});

describe('instanceType, rootDeviceName and rootVolumeSize', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth({
      instanceType: ec2.InstanceType.of(ec2.InstanceClass.M7G, ec2.InstanceSize.LARGE),
      rootDeviceName: '/dev/sda1',
      rootVolumeSize: Size.gibibytes(30),
    });
  });

  test('rootDeviceName and rootVolumeSize set the encrypted root volume', () => {
    expect(launchParameters(s).BlockDeviceMappings).toEqual([
      { DeviceName: '/dev/sda1', Ebs: { Encrypted: true, DeleteOnTermination: true, VolumeType: 'gp3', VolumeSize: 30 } },
    ]);
  });

  test('an ARM instance type launches that type on the arm64 Amazon Linux 2023 image', () => {
    expect(launchParameters(s).InstanceType).toBe('m7g.large');
    const images = Object.values<any>(s.json.Parameters).filter((v) => v.Type === 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>');
    expect(images).toHaveLength(1);
    expect(images[0].Default).toMatch(/al2023-ami.*arm64/);
  });
});

describe('machineImage', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth({ machineImage: ec2.MachineImage.genericLinux({ [TEST_ENV.region]: 'ami-1234567890abcdef0' }) });
  });

  test('launches the given image and looks up no SSM parameter', () => {
    expect(launchParameters(s).ImageId).toBe('ami-1234567890abcdef0');
    const images = Object.values<any>(s.json.Parameters ?? {}).filter((v) => String(v.Type).includes('AWS::EC2::Image::Id'));
    expect(images).toEqual([]);
  });

  test('RunInstances is allowed on that image only', () => {
    const resources = roleStatements(s, s.pipeline.stateMachine.role)
      .filter((st) => hasAction(st, 'ec2:RunInstances'))
      .flatMap((st) => st.Resource)
      .filter((r) => r.includes(':image/'));
    expect(resources).toEqual([`arn:aws:ec2:${TEST_ENV.region}::image/ami-1234567890abcdef0`]);
  });
});

describe('volumeKey', () => {
  let s: Synthesized;
  let key: kms.Key;
  beforeAll(() => {
    s = synth({}, (stack) => {
      key = new kms.Key(stack, 'VolumeKey', { enableKeyRotation: true });
      return { volumeKey: key };
    });
  });

  test('the root volume is encrypted with that key', () => {
    expect(launchParameters(s).BlockDeviceMappings).toEqual([
      { DeviceName: '/dev/xvda', Ebs: { Encrypted: true, DeleteOnTermination: true, VolumeType: 'gp3', KmsKeyId: value(s, key.keyArn) } },
    ]);
  });

  test('every launch uses it, Spot and On-Demand', () => {
    let spotKey!: kms.Key;
    const spot = synth({ maxAttempts: 2, spot: {} }, (stack) => ({ volumeKey: (spotKey = new kms.Key(stack, 'VolumeKey')) }));
    for (const state of [STATES.LAUNCH, STATES.LAUNCH_SPOT]) {
      expect({ state, ebs: launchParameters(spot, state).BlockDeviceMappings[0].Ebs }).toEqual({
        state,
        ebs: expect.objectContaining({ Encrypted: true, KmsKeyId: value(spot, spotKey.keyArn) }),
      });
    }
  });

  test('the state machine role, which calls RunInstances, gets the KMS permissions EBS needs on that key', () => {
    const keyArn = value(s, key.keyArn);
    expect(roleStatements(s, s.pipeline.stateMachine.role).filter((st) => st.Resource.includes(keyArn))).toEqual([
      { Effect: 'Allow', Action: ['kms:CreateGrant'], Resource: [keyArn], Condition: { Bool: { 'kms:GrantIsForAWSResource': true } } },
      {
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncryptFrom', 'kms:ReEncryptTo'],
        Resource: [keyArn],
      },
    ]);
  });

  test('and nowhere else: no other policy names the key, and its key policy is what it was', () => {
    const keyArn = value(s, key.keyArn);
    const everywhere = allStatements(s).filter((st) => st.Resource.includes(keyArn) || JSON.stringify(st).includes(keyArn));
    expect(everywhere).toHaveLength(2);
    for (const role of [s.pipeline.instanceRole, s.pipeline.cleanupStateMachine.role]) {
      expect(roleStatements(s, role).filter((st) => JSON.stringify(st).includes(keyArn))).toEqual([]);
    }
    // The same key in a stack without the pipeline has the same key policy.
    const alone = testStack();
    const untouched = new kms.Key(alone, 'VolumeKey', { enableKeyRotation: true });
    const policyOf = (stack: Stack, k: kms.Key) =>
      Template.fromStack(stack).toJSON().Resources[stack.getLogicalId(k.node.defaultChild as CfnElement)].Properties.KeyPolicy;
    expect(policyOf(s.stack, key)).toEqual(policyOf(alone, untouched));
  });

  test('default: no KmsKeyId, and no KMS permission on the state machine role', () => {
    const d = synth();
    expect(launchParameters(d).BlockDeviceMappings[0].Ebs.KmsKeyId).toBeUndefined();
    expect(roleStatements(d, d.pipeline.stateMachine.role).filter((st) => st.Action.some((a) => a.startsWith('kms:')))).toEqual([]);
  });

  test('the construct fails when volumeKey is an alias', () => {
    expectRejected((stack) => ({ volumeKey: kms.Alias.fromAliasName(stack, 'EbsAlias', 'alias/ebs') }), /'volumeKey' must be a key .*not an alias/);
  });

  test('cdk-nag: no unacknowledged findings on the pipeline', () => {
    expect(readable(nag(s.stack)).filter((f) => f.includes('/Nightly/'))).toEqual([]);
  });
});
