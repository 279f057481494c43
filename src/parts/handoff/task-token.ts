import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { Handoff, HandoffContext } from './handoff';
import { Bootstrap } from '../../bootstrap';
import { IAcknowledgedState, NagAcknowledgement, wildcardResource } from '../../nag';
import { OWNER_TAG, TASKS_PREFIX } from '../../protocol';
import { PauseInput } from '../../workflow/attempts';
import { STATES } from '../../workflow/states';

/**
 * TaskHandoff.TASK_TOKEN: "Pause for Job Completion" writes this execution's task token to `pipeline/tasks/<instance>.json`
 * (`s3:putObject.waitForTaskToken`), tagged so that only that instance's role session may read it (the instance role's
 * Deny on untagged pipeline/ objects, in parts/instance.ts); the bootstrap waits for that document.
 */
export class TaskTokenHandoff implements Handoff {
  public readonly lifecycleRules: s3.LifecycleRule[] = [];
  private context?: HandoffContext;

  public bind(_pipeline: Construct, context: HandoffContext): void {
    this.context = context;
  }

  public addToBootstrap(bootstrap: Bootstrap): void {
    addTaskDocumentStep(bootstrap);
  }

  public pauseState(scope: Construct, input: PauseInput): sfn.TaskStateBase {
    if (!this.context) throw new Error('TaskTokenHandoff: bind() before pauseState()');
    return new HandTaskToInstance(scope, STATES.PAUSE, { ...input, ...this.context });
  }
}

/**
 * The bootstrap waits for the task document the state machine writes for this instance, then (holding the token)
 * heartbeats and fetches the runtime. The document is read from this account's bucket only, into a file only root may
 * read.
 */
export function addTaskDocumentStep(bootstrap: Bootstrap): void {
  bootstrap.setTaskStep({
    afterRuntime: false,
    script: `# The task document: written by the state machine right after launch, readable by this instance only.
deadline=$((SECONDS + TASK_WAIT_SECONDS))
until (umask 077 && aws s3api get-object --bucket "$BUCKET" --key "${TASKS_PREFIX}$IID.json" --expected-bucket-owner "$ACCOUNT" "$TASK" >/dev/null 2>&1); do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo '[bootstrap] no task document; the workflow will time this run out'
    exit 1
  fi
  sleep 3
done`,
  });
}

/**
 * The per-execution task token goes into an object only this instance's role session can read (the object's owner
 * tag must equal the reader's aws:userid, "<RoleId>:<InstanceId>"); the state waits for the instance's answer.
 */
class HandTaskToInstance extends tasks.CallAwsService implements IAcknowledgedState {
  private readonly taskDocuments: string;

  constructor(scope: Construct, id: string, props: PauseInput & HandoffContext) {
    const taskDocuments = props.bucket.arnForObjects(`${TASKS_PREFIX}*`);
    super(scope, id, {
      comment: 'Hands this execution\'s task token to its own instance, then waits for the job to report',
      service: 's3',
      action: 'putObject',
      integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
      parameters: {
        Bucket: props.bucket.bucketName,
        Key: sfn.JsonPath.format(`${TASKS_PREFIX}{}.json`, sfn.JsonPath.stringAt(props.instanceId)),
        ContentType: 'application/json',
        Tagging: sfn.JsonPath.format(`${OWNER_TAG}={}:{}`, props.role.roleId, sfn.JsonPath.stringAt(props.instanceId)),
        Body: { taskToken: sfn.JsonPath.taskToken, ...props.taskFields },
      },
      iamAction: 's3:PutObject',
      iamResources: [taskDocuments],
      additionalIamStatements: [new iam.PolicyStatement({ actions: ['s3:PutObjectTagging'], resources: [taskDocuments] })],
      heartbeatTimeout: sfn.Timeout.duration(props.heartbeatTimeout),
      taskTimeout: sfn.Timeout.duration(props.jobTimeout),
      resultPath: '$.job',
    });
    this.taskDocuments = taskDocuments;
  }

  public nagAcknowledgements(): NagAcknowledgement[] {
    return [
      {
        id: wildcardResource(this, this.taskDocuments),
        reason: 'One task document per instance, named after an instance ID that does not exist before the run; limited to the pipeline/tasks/ prefix.',
      },
    ];
  }
}
