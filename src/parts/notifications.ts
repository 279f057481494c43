import { Duration, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { ShellScriptPipelineProps } from '../shell-script-pipeline-props';

/** The props this part owns. */
export type NotificationsProps = Pick<
  ShellScriptPipelineProps,
'notificationEmail' | 'notificationKey' | 'notificationTopic' | 'notifyOnSuccess' | 'notifyOnFailure' | 'failureAlarm'
>;

/**
 * Who hears about runs: the topic (created, TLS only, optionally KMS-encrypted, or the user's), the email subscription,
 * which runs notify (`notifyOnSuccess`, `notifyOnFailure`), and the alarm on failed runs that also notifies the topic.
 */
export class Notifications {
  /** What is wrong with these props, each naming the prop, the value and the fix. Values that are tokens are not checked. */
  public static problems(props: NotificationsProps): string[] {
    const problems: string[] = [];
    const email = props.notificationEmail;
    if (email !== undefined && !Token.isUnresolved(email) && !/^[^\s@,;]+@[^\s@,;]+\.[^\s@,;]+$/.test(email)) {
      problems.push(`'notificationEmail' must be one email address like ops@example.com, got '${email}'`);
    }
    if (props.notificationTopic !== undefined && props.notificationKey !== undefined) {
      problems.push("'notificationKey' encrypts the topic the construct creates; with 'notificationTopic', encrypt your own topic instead");
    }
    return problems;
  }

  public readonly topic: sns.ITopic;
  /** Send a notification when a run succeeds. */
  public readonly notifyOnSuccess: boolean;
  /** Send a notification when a run fails. */
  public readonly notifyOnFailure: boolean;

  constructor(private readonly pipeline: Construct, private readonly props: NotificationsProps) {
    this.topic =
      props.notificationTopic ??
      new sns.Topic(pipeline, 'Notifications', {
        displayName: 'Shell script pipeline runs',
        enforceSSL: true,
        masterKey: props.notificationKey,
      });
    if (props.notificationEmail) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(props.notificationEmail));
    }
    this.notifyOnSuccess = props.notifyOnSuccess ?? true;
    this.notifyOnFailure = props.notifyOnFailure ?? true;
  }

  /** Lets a state machine publish to the topic when it is encrypted with `notificationKey` (sns:Publish comes with the task). */
  public grantPublish(machine: iam.IGrantable): void {
    this.props.notificationKey?.grant(machine, 'kms:Decrypt', 'kms:GenerateDataKey*');
  }

  /**
   * With `failureAlarm`: an alarm that goes off when at least one run failed in 5 minutes, and notifies the topic.
   *
   * @param failedRuns the run state machine's ExecutionsFailed metric
   */
  public alarmOnFailedRuns(failedRuns: (props: cloudwatch.MetricOptions) => cloudwatch.IMetric): cloudwatch.Alarm | undefined {
    if (!this.props.failureAlarm) return undefined;
    const alarm = new cloudwatch.Alarm(this.pipeline, 'FailureAlarm', {
      alarmDescription: `A shell script pipeline run failed (${this.pipeline.node.path})`,
      metric: failedRuns({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new cloudwatchActions.SnsAction(this.topic));
    // The topic's policy (TLS only) replaces SNS's default one, so CloudWatch needs its own Allow;
    // and an encrypted topic needs CloudWatch to be able to use the key.
    if (!this.props.notificationTopic) {
      this.topic.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'AllowFailureAlarm',
          principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['sns:Publish'],
          resources: [this.topic.topicArn],
          conditions: { ArnEquals: { 'aws:SourceArn': alarm.alarmArn } },
        }),
      );
    }
    this.props.notificationKey?.grant(new iam.ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    return alarm;
  }
}
