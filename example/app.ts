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
import { etlWorkflow } from './etl';
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

// The multi-step example (README "Chaining and fan-out"): extract → transform ×3 shards → load, each step a run of
// this second pipeline, one notification for the whole workflow from the parent (the pipeline's own are off).
const etl = new ShellScriptPipeline(stack, 'Etl', {
  jobTimeout: Duration.hours(1),
  notifyOnSuccess: false,
  notifyOnFailure: false,
  notificationEmail: process.env.NOTIFICATION_EMAIL ?? 'ops@example.com',
});
const etlMachine = etlWorkflow(stack, 'EtlWorkflow', { pipeline: etl, topic: etl.topic, shards: ['eu', 'us', 'apac'] });
new CfnOutput(stack, 'EtlWorkflowArn', { value: etlMachine.stateMachineArn, description: 'Start the ETL here: {"date": "2026-01-01"}' });

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

const definitionOf = (machine: typeof pipeline.stateMachine) =>
  JSON.parse(flatten(template.Resources[stack.resolve(machine.stateMachineArn).Ref].Properties.DefinitionString));
const definition = definitionOf(pipeline.stateMachine);
const cleanupDefinition = definitionOf(pipeline.cleanupStateMachine);
const etlDefinition = definitionOf(etlMachine);
const validationDefinition = definitionOf(pipeline.validationStateMachine);
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
  `Input validation state machine (Express, called by "Validate input"): ${Object.keys(validationDefinition.States).length} states, ` +
    'billed per request and duration, not per state',
  '',
  'Cleanup state machine (started by an EventBridge rule when a run ends ABORTED, TIMED_OUT or FAILED):',
  ...flowOrder(cleanupDefinition).map((name) => describeState(name, cleanupDefinition.States[name])),
  '',
  'ETL workflow (EtlWorkflow: runs of the Etl pipeline, chained and fanned out; one notification):',
  ...flowOrder(etlDefinition).map((name) => describeState(name, etlDefinition.States[name])),
  `  Transform: ${etlDefinition.States.Transform.Branches[0].States['Transform: each shard'].MaxConcurrency} shards at once, ` +
    `each a '${etlDefinition.States.Transform.Branches[0].States['Transform: each shard'].ItemProcessor.States['Transform: shard'].Branches[0].States['Transform: shard: run'].Resource.replace(/^.*:::/, '')}' task`,
  '',
  `Parameters: ${Object.keys(template.Parameters ?? {}).join(', ') || 'none'} (the AMI comes from a public SSM parameter at deploy time)`,
  `Outputs: ${Object.keys(template.Outputs ?? {}).join(', ')}`,
  '',
  'After `cdk deploy`, upload a script and start a run:',
  '  aws s3 cp nightly.sh s3://<JobBucket>/jobs/nightly.sh',
  '  aws stepfunctions start-execution --state-machine-arn <StateMachineArn> --input \'{"script":"jobs/nightly.sh","args":["2026-01-01"]}\'',
  '  aws stepfunctions start-execution --state-machine-arn <EtlWorkflowArn> --input \'{"date":"2026-01-01"}\'',
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
