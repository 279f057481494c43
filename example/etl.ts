/**
 * The multi-step example: extract → transform (3 shards in parallel) → load, each step a run of one pipeline, and one
 * notification for the whole workflow, sent by the parent on success or failure. The pipeline's own per-run
 * notifications are off, so a night's work sends one message.
 *
 * Used by example/app.ts (synthesized by `npx projen example`) and by the README's "Chaining and fan-out" diagram.
 */
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { ShellScriptPipeline } from '../src';

export interface EtlWorkflowProps {
  /** The pipeline every step runs on (create it with notifyOnSuccess and notifyOnFailure false). */
  readonly pipeline: ShellScriptPipeline;
  /** Where the one notification goes. */
  readonly topic: sns.ITopic;
  /** The transform step's shards. */
  readonly shards: string[];
}

/** The parent workflow: a Standard state machine whose input is `{"date": "2026-01-01"}`. */
export function etlWorkflow(scope: Construct, id: string, props: EtlWorkflowProps): sfn.StateMachine {
  const { pipeline, topic } = props;
  const day = { DAY: sfn.JsonPath.stringAt('$.date') };

  const extract = pipeline.runJob(scope, 'Extract', { input: { script: 'jobs/extract.sh', env: day }, resultPath: '$.extract' });
  const transform = pipeline.fanOut(scope, 'Transform', {
    input: { script: 'jobs/transform.sh', env: day },
    shards: props.shards,
    maxConcurrency: props.shards.length,
    resultPath: '$.transform',
  });
  const load = pipeline.runJob(scope, 'Load', { input: { script: 'jobs/load.sh', env: day }, resultPath: '$.load' });
  // A Spot interruption is worth another run; a script's own failure is not.
  for (const step of [extract, transform, load]) step.addRetry({ errors: ['Job.SpotInterrupted'], maxAttempts: 2 });

  const notifyFailure = new tasks.SnsPublish(scope, 'Notify ETL failure', {
    topic,
    subject: sfn.JsonPath.format('FAILED: ETL {}', sfn.JsonPath.stringAt('$.date')),
    message: sfn.TaskInput.fromObject({ status: 'FAILED', execution: sfn.JsonPath.executionName, error: sfn.JsonPath.objectAt('$.error') }),
    resultPath: sfn.JsonPath.DISCARD,
  }).next(new sfn.Fail(scope, 'ETL failed', { errorPath: '$.error.Error', causePath: '$.error.Cause' }));
  for (const step of [extract, transform, load]) step.addCatch(notifyFailure, { errors: [sfn.Errors.ALL], resultPath: '$.error' });

  const notifySuccess = new tasks.SnsPublish(scope, 'Notify ETL success', {
    topic,
    subject: sfn.JsonPath.format('SUCCEEDED: ETL {}', sfn.JsonPath.stringAt('$.date')),
    message: sfn.TaskInput.fromObject({
      status: 'SUCCEEDED',
      execution: sfn.JsonPath.executionName,
      extract: sfn.JsonPath.objectAt('$.extract.job'),
      transform: sfn.JsonPath.listAt('$.transform.shards'),
      load: sfn.JsonPath.objectAt('$.load.job'),
    }),
    resultPath: sfn.JsonPath.DISCARD,
  });

  return new sfn.StateMachine(scope, id, {
    definitionBody: sfn.DefinitionBody.fromChainable(extract.next(transform).next(load).next(notifySuccess).next(new sfn.Succeed(scope, 'ETL done'))),
    comment: 'Extract, transform in 3 shards, load: each step a shell script pipeline run; one notification',
    tracingEnabled: true,
  });
}
