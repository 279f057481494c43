import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { Handoff, HandoffContext } from './handoff';
import { Bootstrap } from '../../bootstrap';
import { acknowledge, wildcardResource } from '../../nag';
import { HANDOFF_PREFIX, OWNER_TAG } from '../../protocol';
import { PauseInput } from '../../workflow/attempts';
import { STATES } from '../../workflow/states';

/**
 * TaskHandoff.ACTIVITY, the AWS sample's shape made correct: "Pause for Job Completion" schedules a task on a Step
 * Functions activity the construct creates; each task names its instance. The heartbeat runtime on the instance polls
 * the activity; a task it draws for another instance is handed over through `pipeline/handoff/<owner>.json`, tagged so
 * only the owner can read it, while it keeps polling for its own. Everything about activity mode is in this file.
 */
export class ActivityHandoff implements Handoff {
  /** Tasks one instance drew for another, left in the bucket for their owner, expire after a day. */
  public readonly lifecycleRules: s3.LifecycleRule[] = [{ id: 'ExpireHandedOverTasks', prefix: HANDOFF_PREFIX, expiration: Duration.days(1) }];
  private job?: sfn.Activity;

  public get activity(): sfn.Activity | undefined {
    return this.job;
  }

  public bind(pipeline: Construct, { bucket, role }: HandoffContext): void {
    // CDK names the activity uniquely (no fixed name like the sample's Monitor_Job, so pipelines never share one).
    this.job = new sfn.Activity(pipeline, 'JobActivity');
    this.job.grant(role, 'states:GetActivityTask', 'states:SendTaskHeartbeat', 'states:SendTaskSuccess', 'states:SendTaskFailure');
    // An instance that draws another instance's task leaves it, tagged for its owner, under pipeline/handoff/.
    const handedOver = bucket.arnForObjects(`${HANDOFF_PREFIX}*`);
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'HandOverDrawnTasks',
        actions: ['s3:PutObject', 's3:PutObjectTagging'],
        resources: [handedOver],
        conditions: { StringLike: { [`s3:RequestObjectTag/${OWNER_TAG}`]: `${role.roleId}:i-*` } },
      }),
    );
    // Hand-overs are written once, never replaced: S3 does not evaluate s3:ExistingObjectTag for PutObject ("When
    // granting permissions for the PUT Object and DELETE Object operations, this condition key is not supported",
    // https://docs.aws.amazon.com/AmazonS3/latest/userguide/tagging-and-policies.html), so an owner tag cannot guard a
    // hand-over against an overwrite with a forged document. A conditional write can: with If-None-Match: * S3 "uploads
    // the object only if the object key name does not already exist" (else 412; @aws-sdk/client-s3 PutObjectRequest
    // IfNoneMatch), and a bucket policy can require the header with s3:if-none-match
    // (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes-enforce.html). A negated operator also
    // matches a request without the header. Retagging an owned hand-over is denied by the job bucket (reserveTaskTokens).
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'HandOversAreWrittenOnce',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [handedOver],
        conditions: { StringNotEquals: { 's3:if-none-match': '*' } },
      }),
    );
    acknowledge(role.node.findChild('DefaultPolicy'), {
      id: wildcardResource(pipeline, handedOver),
      reason:
        'Activity mode: an instance that draws another instance\'s task leaves it under pipeline/handoff/<owner instance ID>, an ID ' +
        'not known when the policy is written; the write must tag the object for an instance of this role, and only that instance may read it.',
    });
  }

  public addToBootstrap(bootstrap: Bootstrap): void {
    if (!this.job) throw new Error('ActivityHandoff: bind() before addToBootstrap()');
    addActivityClaim(bootstrap, this.job.activityArn);
  }

  public pauseState(scope: Construct, input: PauseInput): sfn.TaskStateBase {
    if (!this.job) throw new Error('ActivityHandoff: bind() before pauseState()');
    return new tasks.StepFunctionsInvokeActivity(scope, STATES.PAUSE, {
      comment: 'Schedules an activity task naming this execution\'s instance, then waits for the job to report',
      activity: this.job,
      parameters: { instanceId: sfn.JsonPath.stringAt(input.instanceId), ...input.taskFields },
      heartbeatTimeout: sfn.Timeout.duration(input.heartbeatTimeout),
      taskTimeout: sfn.Timeout.duration(input.jobTimeout),
      resultPath: '$.job',
    });
  }
}

/**
 * The bootstrap fetches the runtime, which polls the activity in the background and writes this instance's task
 * (drawn by itself, or handed over by another instance) to the task file (0600); the activity's timers start at that
 * claim, so the bootstrap's own heartbeats start there too; it hands over tasks it draws for other
 * instances, and keeps going until its in-flight poll is answered: the before-report hook and the exit trap wait for it.
 */
export function addActivityClaim(bootstrap: Bootstrap, activityArn: string): void {
  bootstrap.setTaskStep({
    afterRuntime: true,
    script: `"$NODE" "$WORK/heartbeat.js" claim-activity --activity-arn '${activityArn}' --instance-id "$IID" --bucket "$BUCKET" \\
  --owner-tag-value "$ROLE_ID:$IID" --out "$TASK" --wait-seconds "$JOB_SECONDS" &
CLAIMER=$!
until [ -s "$TASK" ]; do
  if [ ! -d "/proc/$CLAIMER" ] && [ ! -s "$TASK" ]; then
    echo '[bootstrap] no activity task for this instance; the execution timeout and the cleanup end this run'
    exit 1
  fi
  sleep 1
done
`,
  });
  bootstrap.addExitStep(
    '# Activity mode: a poll still in flight may be handed a task; let the claimer pass it on first.',
    'if [ -n "${CLAIMER:-}" ]; then wait "$CLAIMER" 2>/dev/null || true; fi',
  );
  bootstrap.addHookVariable('CLAIMER="${CLAIMER:-}"');
  bootstrap.addBeforeResultStep('if [ -n "$CLAIMER" ]; then while [ -d "/proc/$CLAIMER" ]; do sleep 1; done; fi');
}
