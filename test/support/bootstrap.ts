import { Bootstrap, BootstrapSettings } from '../../src/bootstrap';
import { addActivityClaim } from '../../src/parts/handoff/activity';
import { addTaskDocumentStep } from '../../src/parts/handoff/task-token';
import { addStagingSteps } from '../../src/parts/staging';

export { WORK_DIR } from '../../src/bootstrap';

/** The bootstrap's settings and the options the parts add to it, each as the pipeline passes it. */
export interface BootstrapOptions extends BootstrapSettings {
  /** Activity mode: the activity to claim the task from; undefined for the default task document. */
  readonly activityArn?: string;
  /** Prefixes copied to $SSP_INPUT_DIR/<prefix> before the job (no leading or trailing '/'). */
  readonly stagingInputs?: string[];
  /** Prefix that receives $SSP_OUTPUT_DIR, under <prefix>/<RoleId>:<InstanceId>/<execution>/, after the job succeeds. */
  readonly stagingOutput?: string;
}

/** The user data the pipeline renders for these options: the skeleton plus what each part adds, in the pipeline's order. */
export function renderBootstrap(o: BootstrapOptions): string {
  const bootstrap = new Bootstrap(o);
  if (o.activityArn === undefined) addTaskDocumentStep(bootstrap);
  else addActivityClaim(bootstrap, o.activityArn);
  addStagingSteps(bootstrap, { inputPrefixes: o.stagingInputs ?? [], outputPrefix: o.stagingOutput });
  return bootstrap.render();
}
