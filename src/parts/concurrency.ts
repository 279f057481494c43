import { ArnFormat, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { acknowledge, nagText } from '../nag';
import type { ShellScriptPipelineProps } from '../shell-script-pipeline-props';
import { JobSlots, SLOT_ITEM_KEY, SLOT_TABLE_KEY } from '../workflow/semaphore';

/** The props this part owns. */
export type ConcurrencyProps = Pick<ShellScriptPipelineProps, 'maxConcurrentJobs'>;

/**
 * The most `maxConcurrentJobs` may be: every holder's entry (about 250 bytes with its execution ARN) lives in one
 * DynamoDB item, whose limit is 400 KB (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html),
 * and a waiting run's sweep describes every holder's execution.
 */
export const MAX_CONCURRENT_JOBS = 1000;

/**
 * `maxConcurrentJobs` (Data Pipeline's `maxActiveInstances`): with it, a DynamoDB table (`JobSlots`, one item, billed
 * per request, so it costs nothing while idle) and the semaphore states of workflow/semaphore.ts; without it, nothing.
 * Owns the table's IAM: the run and cleanup roles may touch only the one slots item (`dynamodb:LeadingKeys`).
 */
export class Concurrency {
  /** What is wrong with these props, each naming the prop, the value and the fix. A token is not checked. */
  public static problems(props: ConcurrencyProps): string[] {
    const n = props.maxConcurrentJobs;
    if (n === undefined || Token.isUnresolved(n)) return [];
    if (!Number.isInteger(n) || n < 1 || n > MAX_CONCURRENT_JOBS) {
      return [`'maxConcurrentJobs' must be a whole number from 1 to ${MAX_CONCURRENT_JOBS}, got ${n}; leave it out for no limit`];
    }
    return [];
  }

  /** The table that holds the job slots. Conditional: only with `maxConcurrentJobs`. */
  public readonly table?: dynamodb.Table;
  private readonly limit?: number;
  private readonly scope?: Construct;

  constructor(pipeline: Construct, props: ConcurrencyProps) {
    if (props.maxConcurrentJobs === undefined) return;
    this.limit = props.maxConcurrentJobs;
    this.scope = new Construct(pipeline, 'JobSlots');
    this.table = new dynamodb.Table(this.scope, 'Table', {
      partitionKey: { name: SLOT_TABLE_KEY, type: dynamodb.AttributeType.STRING },
      // On demand: no charge while no run starts (https://aws.amazon.com/dynamodb/pricing/on-demand/).
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      // Encrypted at rest with a key AWS owns: no KMS charge (DynamoDB encrypts every table; this only names the choice).
      encryption: dynamodb.TableEncryption.DEFAULT,
      // It holds leases only: deleting it with the stack loses nothing a new deployment needs.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    acknowledge(this.table, {
      id: 'AwsSolutions-DDB3',
      reason:
        'The table holds one item of job-slot leases, rebuilt by the runs themselves: a restore to a point in time would bring back ' +
        'leases of runs that have ended. Point-in-time recovery would only add a charge.',
    });
  }

  /** The run's execution timeout, with room for waiting for a slot (up to the job timeout) when there is a limit. */
  public executionTimeout(timeout: Duration | undefined, jobTimeout: Duration): Duration | undefined {
    if (!this.table || timeout === undefined || jobTimeout.isUnresolved()) return timeout;
    return Duration.seconds(timeout.toSeconds() + jobTimeout.toSeconds());
  }

  /** The semaphore's states, for the run and cleanup state machines. Conditional: only with `maxConcurrentJobs`. */
  public slots(props: { jobTimeout: Duration; lease?: Duration }): { slots: JobSlots; scope: Construct } | undefined {
    if (!this.table || !this.scope) return undefined;
    return { slots: new JobSlots({ table: this.table, limit: this.limit!, maxWait: props.jobTimeout, lease: props.lease }), scope: this.scope };
  }

  /**
   * The run state machine may read and update the slots item, and describe its own executions (a waiting run checks
   * whether each holder still runs); the cleanup state machine may update the slots item. Nothing else of the table.
   */
  public grant(run: sfn.StateMachine, cleanup: sfn.StateMachine): void {
    if (!this.table || !this.scope) return;
    const oneItem = { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [SLOT_ITEM_KEY] } };
    run.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], resources: [this.table.tableArn], conditions: oneItem }),
    );
    cleanup.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:UpdateItem'], resources: [this.table.tableArn], conditions: oneItem }));
    // A policy of its own: the state machine depends on its role's default policy, so naming the state machine in that
    // policy would be a dependency cycle. Executions have no ARN before they start: "<state machine name>:*".
    const executions = Stack.of(run).formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${run.stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const describe = new iam.Policy(this.scope, 'DescribeRunsPolicy', {
      roles: [run.role],
      statements: [new iam.PolicyStatement({ actions: ['states:DescribeExecution'], resources: [executions] })],
    });
    acknowledge(describe, {
      id: `AwsSolutions-IAM5[Resource::${nagText(describe, executions)}]`,
      reason: 'A run waiting for a job slot asks whether each holder execution still runs; execution ARNs exist only once they start, so only this state machine\'s executions are named.',
    });
  }
}
