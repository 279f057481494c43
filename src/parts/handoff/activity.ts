import { Bootstrap } from '../../bootstrap';

/**
 * The bootstrap fetches the runtime, which polls the activity in the background and writes this instance's task
 * (drawn by itself, or handed over by another instance) to the task file; it hands over tasks it draws for other
 * instances, and keeps going until its in-flight poll is answered: the before-report hook and the exit trap wait for it.
 */
export function addActivityClaim(bootstrap: Bootstrap, activityArn: string): void {
  bootstrap.setTaskStep({
    afterRuntime: true,
    script: `TASK="$WORK/task.json"
"$NODE" "$WORK/heartbeat.js" claim-activity --activity-arn '${activityArn}' --instance-id "$IID" --bucket "$BUCKET" \\
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
