/**
 * workflow/state-machine.ts: the log group the state machines of a pipeline log to: named under
 * /aws/vendedlogs/states/ (test/fixtures/aws/cwl-resource-policy-size.json), one per pipeline.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ShellScriptPipeline } from '../../src';
import { STATE_MACHINE_LOG_PREFIX } from '../../src/workflow/state-machine';
import { awsFixture } from '../support/aws-fixtures';
import { resourcesOfType, synth, TEST_ENV } from '../support/template';

/** The log group ARN each state machine of the template logs to. */
function loggedTo(json: any): any[] {
  return Object.values<any>(json.Resources)
    .filter((r) => r.Type === 'AWS::StepFunctions::StateMachine')
    .map((r) => r.Properties.LoggingConfiguration.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn);
}

describe('the state machines\' log group', () => {
  const s = synth();

  test('is named /aws/vendedlogs/states/<pipelineId>, the prefix AWS asks for', () => {
    expect(awsFixture('cwl-resource-policy-size').quote).toContain(`prefixing your CloudWatch log group name with ${STATE_MACHINE_LOG_PREFIX}`);
    const [group] = resourcesOfType(s, 'AWS::Logs::LogGroup');
    expect(resourcesOfType(s, 'AWS::Logs::LogGroup')).toHaveLength(1);
    expect(group.Properties.LogGroupName).toBe(`/aws/vendedlogs/states/${s.pipeline.pipelineId}`);
    expect(group.Properties.LogGroupName).toMatch(/^\/aws\/vendedlogs\/states\/TestStack-[0-9A-F]{8}$/);
    expect(group.Properties.RetentionInDays).toBe(90);
  });

  test('keeps its logical ID (NightlyStateMachineLogs…), and all three state machines (run, cleanup, input validation) log to it', () => {
    const ids = Object.entries<any>(s.json.Resources).filter(([, r]) => r.Type === 'AWS::Logs::LogGroup').map(([id]) => id);
    expect(ids).toEqual(['NightlyStateMachineLogs174AC3D8']);
    const targets = loggedTo(s.json);
    expect(targets).toHaveLength(3);
    expect(targets).toEqual([1, 2, 3].map(() => ({ 'Fn::GetAtt': [ids[0], 'Arn'] })));
  });

  test('two pipelines in one stack get two log groups, with different names', () => {
    const stack = new Stack(new App(), 'TestStack', { env: TEST_ENV });
    new ShellScriptPipeline(stack, 'Nightly');
    new ShellScriptPipeline(stack, 'Hourly');
    const names = Object.values<any>(Template.fromStack(stack).toJSON().Resources)
      .filter((r) => r.Type === 'AWS::Logs::LogGroup')
      .map((r) => r.Properties.LogGroupName);
    expect(names).toHaveLength(2);
    expect(new Set(names).size).toBe(2);
    expect(names.every((n) => n.startsWith(STATE_MACHINE_LOG_PREFIX))).toBe(true);
  });

  test('fits the limits with the longest stack name (128): the name (512) and Step Functions\' log group ARN (256)', () => {
    const stack = new Stack(new App(), `S${'x'.repeat(127)}`, { env: TEST_ENV });
    const pipeline = new ShellScriptPipeline(stack, 'Nightly');
    const [group] = Object.values<any>(Template.fromStack(stack).toJSON().Resources).filter((r) => r.Type === 'AWS::Logs::LogGroup');
    const name: string = group.Properties.LogGroupName;
    expect(name).toBe(`${STATE_MACHINE_LOG_PREFIX}${pipeline.pipelineId}`);
    // CreateLogGroup: 1 to 512 characters from a-z, A-Z, 0-9, '_', '-', '/', '.' (and '#')
    // (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html).
    expect(name.length).toBeLessThanOrEqual(512);
    expect(name).toMatch(/^[.\-_/#A-Za-z0-9]+$/);
    // Step Functions' LoggingConfiguration takes the group's ARN, ending in ':*', of at most 256 characters
    // (https://docs.aws.amazon.com/step-functions/latest/apireference/API_CloudWatchLogsLogGroup.html). The longest
    // partition and Region names: aws-us-gov, ap-southeast-4 (14).
    const arn = `arn:aws-us-gov:logs:ap-southeast-4:${TEST_ENV.account}:log-group:${name}:*`;
    expect(arn.length).toBeLessThanOrEqual(256);
  });
});
