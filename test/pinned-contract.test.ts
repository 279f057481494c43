/**
 * The deployed contract: logical IDs (CloudFormation replaces a resource whose ID changes, so a bucket or an
 * execution history would be lost) and state names (users match on them in Catch, metrics and the console).
 * A code change must not move them; a deliberate change updates test/fixtures/pinned/*.json in the same commit
 * and says so in its message.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Duration, RemovalPolicy, Size } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { ShellScriptPipelineProps, TaskHandoff } from '../src';
import { synth } from './support/template';

const PINNED = path.join(__dirname, 'fixtures', 'pinned');

/** Every prop set (with the network created by the construct; the imported-VPC shape is pinned separately). */
function everyProp(stack: import('aws-cdk-lib').Stack): ShellScriptPipelineProps {
  return {
    jobTimeout: Duration.hours(2),
    heartbeatTimeout: Duration.minutes(4),
    instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.SMALL),
    rootDeviceName: '/dev/xvda',
    rootVolumeSize: Size.gibibytes(16),
    vpcCidr: '10.1.0.0/16',
    maxAzs: 3,
    assignPublicIp: true,
    notificationEmail: 'ops@example.com',
    notificationKey: new kms.Key(stack, 'TopicKey'),
    runArtifactsRetention: Duration.days(30),
    bucketRemovalPolicy: RemovalPolicy.DESTROY,
    maxAttempts: 3,
    retryDelay: Duration.minutes(2),
    spot: { maxPrice: '0.01', onDemandOnLastAttempt: true },
    notifyOnSuccess: false,
    notifyOnFailure: true,
    taskHandoff: TaskHandoff.ACTIVITY,
    schedule: { expression: scheduler.ScheduleExpression.rate(Duration.hours(12)), input: { script: 'scripts/hello.sh', args: ['a'] }, enabled: false },
    staging: { inputPrefixes: ['in/'], outputPrefix: 'out/' },
    jobLogRetention: logs.RetentionDays.ONE_MONTH,
    scriptsPath: path.join(__dirname, 'fixtures', 'scripts'),
    scriptsPrefix: 'scripts/',
    failureAlarm: true,
    maxConcurrentJobs: 5,
  };
}

function withVpc(stack: import('aws-cdk-lib').Stack): ShellScriptPipelineProps {
  return { vpc: new ec2.Vpc(stack, 'UserVpc', { natGateways: 0, maxAzs: 2 }) };
}

function contractOf(json: any): any {
  const resources = Object.fromEntries(
    Object.entries<any>(json.Resources)
      .map(([id, r]) => [id, r.Type] as const)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
  const machines: Record<string, string[]> = {};
  for (const [id, r] of Object.entries<any>(json.Resources)) {
    if (r.Type !== 'AWS::StepFunctions::StateMachine') continue;
    // State names are the JSON keys directly under "States" of every (nested) state list in the definition text.
    const text = JSON.stringify(r.Properties.DefinitionString);
    const names = new Set<string>();
    for (const m of text.matchAll(/\\"([^"\\]+)\\":\{\\"(?:Type|Next|End|Comment)\\"/g)) names.add(m[1]);
    machines[id] = [...names].sort();
  }
  return { resources, stateNames: machines };
}

const CASES: Record<string, (stack: import('aws-cdk-lib').Stack) => ShellScriptPipelineProps> = {
  'default': () => ({}),
  'every-prop': everyProp,
  'imported-vpc': withVpc,
};

describe.each(Object.keys(CASES))('pinned contract: %s construct', (name) => {
  test('logical IDs, resource types and state names are unchanged', () => {
    const { json } = synth({}, CASES[name]);
    const actual = contractOf(json);
    // For refactors: SSP_DUMP_TEMPLATES=<dir> writes the whole templates, to diff before and after a change.
    if (process.env.SSP_DUMP_TEMPLATES) fs.writeFileSync(path.join(process.env.SSP_DUMP_TEMPLATES, `${name}.json`), JSON.stringify(json, null, 2));
    const file = path.join(PINNED, `${name}.json`);
    if (process.env.SSP_UPDATE_PINNED === '1') fs.writeFileSync(file, JSON.stringify(actual, null, 2) + '\n');
    const expected = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(actual).toEqual(expected);
  });
});

test('the pinned state lists hold the states users match on', () => {
  // Guards the extraction itself: an empty or wrong pattern must not pin an empty list.
  const expected = JSON.parse(fs.readFileSync(path.join(PINNED, 'default.json'), 'utf8'));
  const all = Object.values<string[]>(expected.stateNames).flat();
  expect(all).toEqual(expect.arrayContaining(['Pause for Job Completion', 'Launch instance', 'Terminate instance', 'Notify failure', 'Validate input']));
});
