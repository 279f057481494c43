/**
 * The example app: one pipeline in one stack, synthesized without an AWS account.
 *
 *   npx projen example        # synthesize and summarize
 *   npx cdk deploy --app 'npx ts-node --project example/tsconfig.json example/app.ts'   # with an account
 *
 * It prints where the CloudFormation template is and what it holds.
 */
import * as fs from 'fs';
import * as path from 'path';
import { App, CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import { ShellScriptPipeline } from '../src';
import { flowOrder } from '../src/local/diagram';

const outdir = path.join(__dirname, 'cdk.out');
const app = new App({ outdir });
const stack = new Stack(app, 'NightlyShellJobs', {
  description: 'Shell-script jobs on EC2, run by Step Functions (cdk-shell-script-pipeline example)',
});

const pipeline = new ShellScriptPipeline(stack, 'Nightly', {
  jobTimeout: Duration.hours(2),
  heartbeatTimeout: Duration.minutes(5),
  notificationEmail: process.env.NOTIFICATION_EMAIL ?? 'ops@example.com',
});

new CfnOutput(stack, 'JobBucket', { value: pipeline.bucket.bucketName, description: 'Upload scripts here' });
new CfnOutput(stack, 'StateMachineArn', { value: pipeline.stateMachine.stateMachineArn, description: 'Start runs here' });
new CfnOutput(stack, 'NotificationTopicArn', { value: pipeline.topic.topicArn });

const assembly = app.synth();

// ---- Describe what was synthesized ---------------------------------------------------------------
const artifact = assembly.getStackByName(stack.stackName);
const templatePath = path.join(assembly.directory, artifact.templateFile);
const template = JSON.parse(fs.readFileSync(templatePath, 'utf8'));

const counts = new Map<string, number>();
for (const r of Object.values<any>(template.Resources)) counts.set(r.Type, (counts.get(r.Type) ?? 0) + 1);

const machines = Object.entries<any>(template.Resources).filter(([, r]) => r.Type === 'AWS::StepFunctions::StateMachine');
const definitionOf = (cleanup: boolean) =>
  JSON.parse(flatten(machines.find(([id]) => id.includes('Cleanup') === cleanup)![1].Properties.DefinitionString));
const definition = definitionOf(false);
const cleanupDefinition = definitionOf(true);
const describeState = (name: string, s: any) => `  - ${name} [${s.Type}]${s.Resource ? ' ' + s.Resource.replace(/^.*:::/, '') : ''}`;

const lines = [
  `Synthesized stack '${stack.stackName}' (no AWS account needed).`,
  `CloudFormation template: ${path.relative(process.cwd(), templatePath)} (${fs.statSync(templatePath).size} bytes pretty-printed, as cdk synth writes it; npm run bench gives the compact size)`,
  `Assets (heartbeat runtime): ${path.relative(process.cwd(), assembly.directory)}/asset.*`,
  '',
  `Resources (${Object.keys(template.Resources).length}):`,
  ...[...counts.entries()].sort().map(([type, n]) => `  ${String(n).padStart(2)} × ${type}`),
  '',
  'Run state machine, in flow order (the way to success first, then the failure paths):',
  ...flowOrder(definition).map((name) => describeState(name, definition.States[name])),
  `  execution timeout: ${definition.TimeoutSeconds} s; job timeout: ${definition.States['Pause for Job Completion'].TimeoutSeconds} s; ` +
    `heartbeat: ${definition.States['Pause for Job Completion'].HeartbeatSeconds} s`,
  '',
  'Cleanup state machine (started by an EventBridge rule when a run ends ABORTED, TIMED_OUT or FAILED):',
  ...flowOrder(cleanupDefinition).map((name) => describeState(name, cleanupDefinition.States[name])),
  '',
  `Parameters: ${Object.keys(template.Parameters ?? {}).join(', ') || 'none'} (the AMI comes from a public SSM parameter at deploy time)`,
  `Outputs: ${Object.keys(template.Outputs ?? {}).join(', ')}`,
  '',
  'After `cdk deploy`, upload a script and start a run:',
  '  aws s3 cp nightly.sh s3://<JobBucket>/jobs/nightly.sh',
  '  aws stepfunctions start-execution --state-machine-arn <StateMachineArn> --input \'{"script":"jobs/nightly.sh","args":["2026-01-01"]}\'',
];
console.log(lines.join('\n'));

/** Renders a DefinitionString for display: intrinsics become <placeholders>. */
function flatten(value: any): string {
  if (typeof value === 'string') return value;
  if (value['Fn::Join']) return value['Fn::Join'][1].map(flatten).join(value['Fn::Join'][0]);
  if (value.Ref) return `<${value.Ref}>`;
  if (value['Fn::GetAtt']) return `<${value['Fn::GetAtt'].join('.')}>`;
  if (value['Fn::Base64']) return '<base64 bootstrap>';
  return '<intrinsic>';
}
