import { Bootstrap } from '../../bootstrap';
import { TASKS_PREFIX } from '../../protocol';

/** The bootstrap waits for the task document the state machine writes for this instance, then fetches the runtime. */
export function addTaskDocumentStep(bootstrap: Bootstrap): void {
  bootstrap.setTaskStep({
    afterRuntime: false,
    script: `# The task document: written by the state machine right after launch, readable by this instance only.
TASK="$WORK/task.json"
deadline=$((SECONDS + TASK_WAIT_SECONDS))
until aws s3 cp --only-show-errors "s3://$BUCKET/${TASKS_PREFIX}$IID.json" "$TASK" 2>/dev/null; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo '[bootstrap] no task document; the workflow will time this run out'
    exit 1
  fi
  sleep 3
done`,
  });
}
