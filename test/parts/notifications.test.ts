/**
 * parts/notifications: the topic (created or given), notificationEmail, notificationKey, notifyOnSuccess,
 * notifyOnFailure and failureAlarm; the notification states, and notifications in local runs.
 */
import { CfnParameter, Lazy, Token } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Notifications } from '../../src/parts/notifications';
import { STATES } from '../../src/workflow/states';
import { awsError, runLocally } from '../support/local-sfn';
import { roleStatements } from '../support/policies';
import { attemptHandlers, fails, notifications, ok } from '../support/run-handlers';
import { cfn, definitionOf, expectRejected, lazySynth, runDefinition, runDefinitionOf, synth, Synthesized, testStack, value } from '../support/template';

const MY_TOPIC_ARN = 'arn:aws:sns:eu-west-1:111111111111:my-notifications';

describe('checks', () => {
  test('accept an email address, and a topic without a key', () => {
    expect(Notifications.problems({ notificationEmail: 'ops@example.com' })).toEqual([]);
    expect(Notifications.problems({ notificationTopic: sns.Topic.fromTopicArn(testStack(), 'T', MY_TOPIC_ARN) })).toEqual([]);
  });

  test.each(['not-an-email', 'a@b', 'a@b.com,c@d.com', 'a@b.com c@d.com', 'a@b.com;c@d.com', ''])('fail when notificationEmail is malformed: %p', (email) => {
    expect(Notifications.problems({ notificationEmail: email }).join('\n')).toContain(
      `'notificationEmail' must be one email address like ops@example.com, got '${email}'`,
    );
  });

  test('do not check values that are tokens', () => {
    expect(Notifications.problems({ notificationEmail: Lazy.string({ produce: () => 'not-an-email' }) })).toEqual([]);
  });

  test.each(['not-an-email', 'a@b', 'a@b.com,c@d.com'])('the construct fails when notificationEmail is malformed: %s', (email) => {
    expectRejected({ notificationEmail: email }, new RegExp(`'notificationEmail' must be one email address like ops@example\\.com, got '${email.replace(/\./g, '\\.')}'`));
  });

  test('the construct fails when notificationTopic and notificationKey are both set', () => {
    expectRejected(
      (stack) => ({
        notificationTopic: sns.Topic.fromTopicArn(stack, 'Mine', 'arn:aws:sns:eu-west-1:111111111111:mine'),
        notificationKey: new kms.Key(stack, 'Key'),
      }),
      /'notificationKey' encrypts the topic the construct creates; with 'notificationTopic', encrypt your own topic instead/,
    );
  });

  test('a notificationEmail from a CloudFormation parameter is not rejected', () => {
    const { template } = synth({}, (stack) => ({
      notificationEmail: Token.asString(new CfnParameter(stack, 'Email', { type: 'String' }).valueAsString),
    }));
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: { Ref: 'Email' } });
  });
});

describe('the topic, by default', () => {
  let s: Synthesized;
  let template: Template;
  beforeAll(() => {
    s = synth();
    template = s.template;
  });

  test('enforces TLS with a topic policy', () => {
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 'sns:Publish', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  test('has no subscription and no customer-managed key', () => {
    template.resourceCountIs('AWS::SNS::Subscription', 0);
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.absent() });
  });

  test('the state machine role may publish to the notification topic', () => {
    expect(roleStatements(s, s.pipeline.stateMachine.role)).toContainEqual(
      expect.objectContaining({ Effect: 'Allow', Action: ['sns:Publish'], Resource: [value(s, s.pipeline.topic.topicArn)] }),
    );
  });
});

describe('notificationEmail and notificationKey', () => {
  let s: Synthesized;
  let key: kms.Key;
  beforeAll(() => {
    s = synth({ notificationEmail: 'ops@example.com' }, (stack) => {
      key = new kms.Key(stack, 'NotificationKey');
      return { notificationKey: key };
    });
  });

  test('notificationEmail subscribes that address to the topic', () => {
    s.template.resourceCountIs('AWS::SNS::Subscription', 1);
    s.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: s.stack.resolve(s.pipeline.topic.topicArn),
    });
  });

  test('notificationKey encrypts the topic', () => {
    s.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: s.stack.resolve(key.keyArn) });
  });

  test('notificationKey: the state machine role may use the key to publish to the encrypted topic', () => {
    // Publishing to a topic encrypted with a customer-managed key needs kms:GenerateDataKey* and kms:Decrypt on it.
    const statements = roleStatements(s, s.pipeline.stateMachine.role);
    const keyArn = value(s, key.keyArn);
    const onKey = statements.filter((st) => st.Effect === 'Allow' && st.Resource.includes(keyArn));
    const actions = onKey.flatMap((st) => st.Action);
    expect(actions).toEqual(expect.arrayContaining(['kms:Decrypt']));
    expect(actions.some((a) => a === 'kms:GenerateDataKey*' || a === 'kms:GenerateDataKey')).toBe(true);
  });
});

describe('notificationTopic, notifyOnSuccess, notifyOnFailure', () => {
  const defaults = lazySynth({});
  const mine = lazySynth({ notificationEmail: 'ops@example.com', failureAlarm: true }, (stack) => ({
    notificationTopic: sns.Topic.fromTopicArn(stack, 'MyTopic', MY_TOPIC_ARN),
  }));

  test('default: the construct creates its topic and the state machine role may publish to it', () => {
    const s = defaults();
    s.template.resourceCountIs('AWS::SNS::Topic', 1);
    s.template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [cfn(s, s.pipeline.stateMachine.role.roleName)],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Allow', Action: 'sns:Publish', Resource: cfn(s, s.pipeline.topic.topicArn) }),
        ]),
      },
    });
  });

  test('an imported topic: no topic is created, and the pipeline publishes to the one given', () => {
    const s = mine();
    s.template.resourceCountIs('AWS::SNS::Topic', 0);
    s.template.resourceCountIs('AWS::SNS::TopicPolicy', 0);
    expect(s.pipeline.topic.topicArn).toBe(MY_TOPIC_ARN);
    const states = runDefinitionOf(s).States;
    expect(states[STATES.NOTIFY_SUCCESS].Parameters.TopicArn).toBe(MY_TOPIC_ARN);
    expect(states[STATES.NOTIFY_FAILURE].Parameters.TopicArn).toBe(MY_TOPIC_ARN);
  });

  test('an imported topic: the state machine role may publish to it', () => {
    const s = mine();
    s.template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [cfn(s, s.pipeline.stateMachine.role.roleName)],
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Allow', Action: 'sns:Publish', Resource: MY_TOPIC_ARN })]),
      },
    });
  });

  test('an imported topic still gets the email subscription', () => {
    const s = mine();
    s.template.resourceCountIs('AWS::SNS::Subscription', 1);
    s.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com', TopicArn: MY_TOPIC_ARN });
  });

  test('default: both notification states', () => {
    const states = runDefinitionOf(defaults()).States;
    expect(states[STATES.NOTIFY_SUCCESS]).toMatchObject({ Type: 'Task', Next: STATES.SUCCEEDED });
    expect(states[STATES.NOTIFY_FAILURE]).toMatchObject({ Type: 'Task', Next: STATES.FAILED });
    expect(states[STATES.DID_JOB_SUCCEED].Default).toBe(STATES.NOTIFY_SUCCESS);
  });

  test('notifyOnSuccess: false: no "Notify success" state; a job that succeeded goes straight to Succeeded', () => {
    const states = runDefinitionOf(synth({ notifyOnSuccess: false })).States;
    expect(states[STATES.NOTIFY_SUCCESS]).toBeUndefined();
    expect(states[STATES.DID_JOB_SUCCEED].Default).toBe(STATES.SUCCEEDED);
    expect(states[STATES.NOTIFY_FAILURE]).toBeDefined();
  });

  test('notifyOnFailure: false: no "Notify failure" state; failures go straight to Failed', () => {
    const definition = runDefinitionOf(synth({ notifyOnFailure: false }));
    expect(definition.States[STATES.NOTIFY_FAILURE]).toBeUndefined();
    expect(JSON.stringify(definition)).not.toContain(`"${STATES.NOTIFY_FAILURE}"`);
    expect(definition.States[STATES.DID_JOB_SUCCEED].Choices[0].Next).toBe(STATES.FAILED);
    expect(definition.States[STATES.NOTIFY_SUCCESS]).toBeDefined();
  });
});

describe('notifications in local runs', () => {
  test('notifyOnSuccess: false sends nothing on success, still notifies failure', async () => {
    const definition = runDefinition({ notifyOnSuccess: false });
    expect(definition.States[STATES.NOTIFY_SUCCESS]).toBeUndefined();
    const good = await runLocally(definition, { script: 'run.sh' }, attemptHandlers([ok]));
    expect(good.status).toBe('SUCCEEDED');
    expect(notifications(good)).toHaveLength(0);
    const bad = await runLocally(definition, { script: 'run.sh' }, attemptHandlers([fails('Job.NonZeroExit')]));
    expect(notifications(bad)).toHaveLength(1);
  });

  test('notifyOnFailure: false sends nothing on failure; the run still ends FAILED with its error', async () => {
    const definition = runDefinition({ notifyOnFailure: false });
    expect(definition.States[STATES.NOTIFY_FAILURE]).toBeUndefined();
    const bad = await runLocally(definition, { script: 'run.sh' }, attemptHandlers([fails('Job.NonZeroExit')]));
    expect(bad.status).toBe('FAILED');
    expect(bad.error).toBe('Job.NonZeroExit');
    expect(notifications(bad)).toHaveLength(0);
    expect(bad.calls[STATES.TERMINATE]).toHaveLength(1);
  });

  test('a publish that keeps failing is retried, and does not change the run\'s status', async () => {
    const definition = runDefinition();
    const throttled = () => Promise.reject(awsError('SNS.ThrottledException', 'Rate exceeded'));
    const good = await runLocally(definition, { script: 'run.sh' }, attemptHandlers([ok], { [STATES.NOTIFY_SUCCESS]: throttled }));
    expect(good.status).toBe('SUCCEEDED');
    expect(good.calls[STATES.NOTIFY_SUCCESS]).toHaveLength(6);
    const bad = await runLocally(definition, { script: 'run.sh' }, attemptHandlers([fails('Job.NonZeroExit')], { [STATES.NOTIFY_FAILURE]: throttled }));
    expect(bad.status).toBe('FAILED');
    expect(bad.error).toBe('Job.NonZeroExit');
  });

  test('notificationTopic: publishes to your topic and creates none', () => {
    const { template, json, stack } = synth({}, (s) => ({ notificationTopic: sns.Topic.fromTopicArn(s, 'Mine', 'arn:aws:sns:eu-west-1:111111111111:mine') }));
    template.resourceCountIs('AWS::SNS::Topic', 0);
    const def = definitionOf(json, (id) => id.includes('StateMachine') && !id.includes('Cleanup'));
    expect(def.States[STATES.NOTIFY_FAILURE].Parameters.TopicArn).toBe('arn:aws:sns:eu-west-1:111111111111:mine');
    expect(stack).toBeDefined();
  });
});

describe('failureAlarm', () => {
  const defaults = lazySynth({});
  const alarmed = lazySynth({ failureAlarm: true });

  test('an alarm on ExecutionsFailed of this state machine, at 1 failed run, that notifies the topic', () => {
    const s = alarmed();
    expect(s.pipeline.failureAlarm).toBeDefined();
    s.template.resourceCountIs('AWS::CloudWatch::Alarm', 1);
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/States',
      MetricName: 'ExecutionsFailed',
      Dimensions: [{ Name: 'StateMachineArn', Value: cfn(s, s.pipeline.stateMachine.stateMachineArn) }],
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      AlarmActions: [cfn(s, s.pipeline.topic.topicArn)],
    });
  });

  test('with an imported notificationTopic, the alarm notifies that topic', () => {
    const s = synth({ failureAlarm: true }, (stack) => ({ notificationTopic: sns.Topic.fromTopicArn(stack, 'MyTopic', MY_TOPIC_ARN) }));
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ExecutionsFailed', AlarmActions: [MY_TOPIC_ARN] });
  });

  test('default: no alarm', () => {
    defaults().template.resourceCountIs('AWS::CloudWatch::Alarm', 0);
    expect(defaults().pipeline.failureAlarm).toBeUndefined();
  });

  // The topic's SSL-only policy replaces SNS's default policy (which let same-account services publish), so CloudWatch
  // alarms need an Allow of their own in it, or the alarm action fails with "no resource-based policy allows SNS:Publish".
  test("the topic's policy lets CloudWatch alarms publish to it", () => {
    const s = alarmed();
    s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [cfn(s, s.pipeline.topic.topicArn)],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Resource: cfn(s, s.pipeline.topic.topicArn),
          }),
        ]),
      },
    });
  });

  // CloudWatch alarms publish to a topic encrypted with a customer-managed key only if the key policy lets them use it.
  test('with notificationKey, the key lets CloudWatch alarms encrypt messages for the topic', () => {
    const s = synth({ failureAlarm: true }, (stack) => ({ notificationKey: new kms.Key(stack, 'NotificationKey') }));
    s.template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: Match.arrayWith(['kms:Decrypt', 'kms:GenerateDataKey*']),
          }),
        ]),
      },
    });
  });
});
