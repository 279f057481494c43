import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { Bootstrap } from '../../bootstrap';
import { PauseStep } from '../../workflow/attempts';

/** What a hand-off needs from the rest of the pipeline. */
export interface HandoffContext {
  readonly bucket: s3.IBucket;
  /** The instance role. */
  readonly role: iam.Role;
}

/**
 * How a run's task reaches its instance: one implementation per TaskHandoff mode, each in its own file with everything
 * the mode needs (resources, grants, acknowledgements, the bootstrap's task step and "Pause for Job Completion").
 * Two phases, because the job bucket needs the mode's lifecycle rules before the mode can be given the bucket.
 */
export interface Handoff extends PauseStep {
  /** Lifecycle rules for what this mode leaves under `pipeline/`. */
  readonly lifecycleRules: s3.LifecycleRule[];
  /** The activity "Pause for Job Completion" waits on; activity mode only, once bound. */
  readonly activity?: sfn.Activity;
  /** Creates this mode's resources in the pipeline and grants the instance role what it needs. */
  bind(pipeline: Construct, context: HandoffContext): void;
  /** Sets how the instance gets its task. */
  addToBootstrap(bootstrap: Bootstrap): void;
}
