/**
 * The forwarder trusts nothing in its input beyond the documented shape: these are refused before any AWS call.
 */
import { parseInput } from '../../src/log-forwarder';
import { LOG_FORWARDER_ENV, LOG_FORWARDER_ERRORS } from '../../src/protocol';

const env = { [LOG_FORWARDER_ENV.BUCKET]: 'job-bucket', [LOG_FORWARDER_ENV.LOG_GROUP]: '/ssp/job-logs' };
const good = {
  bucket: 'job-bucket',
  key: 'pipeline/runs/nightly-2026-12-01/AROAEXAMPLE:i-0123456789abcdef0/output.log',
  logGroupName: '/ssp/job-logs',
  logStreamName: 'nightly-2026-12-01/i-0123456789abcdef0',
};

/** The error parseInput throws for `event`, as [name, message]. */
function refusal(event: unknown, environment: Record<string, string | undefined> = env): [string, string] {
  try {
    parseInput(event, environment);
  } catch (e) {
    return [(e as Error).name, (e as Error).message];
  }
  throw new Error('parseInput accepted the input');
}

test('the documented shape is accepted as it is', () => {
  expect(parseInput({ ...good }, env)).toEqual(good);
});

test('a key outside pipeline/runs/ is refused, naming the key', () => {
  for (const key of ['scripts/nightly.sh', 'pipeline/tasks/i-1.json', 'pipeline/handoff/i-1.json', 'other/pipeline/runs/a/b/output.log']) {
    const [name, message] = refusal({ ...good, key });
    expect(name).toBe(LOG_FORWARDER_ERRORS.INVALID_INPUT);
    expect(message).toBe(`'key' must be a run log, pipeline/runs/<role ID>:<instance ID>/<execution>/output.log; got ${JSON.stringify(key)}`);
  }
});

test('under pipeline/runs/, only a run log: not another artifact, not an odd path', () => {
  expect(refusal({ ...good, key: 'pipeline/runs/run/AROA:i-1/bootstrap.log' })[1]).toMatch(/^'key' must be a run log/);
  expect(refusal({ ...good, key: 'pipeline/runs/run/AROA:i-1/result.json' })[1]).toMatch(/^'key' must be a run log/);
  for (const key of ['pipeline/runs/output.log', 'pipeline/runs/run/output.log', 'pipeline/runs//AROA:i-1/output.log', 'pipeline/runs/../scripts/output.log', 'pipeline/runs/a\nb/i/output.log']) {
    expect(refusal({ ...good, key })[1]).toMatch(/without empty, '\.' or '\.\.' segments or control characters/);
  }
  expect(refusal({ ...good, key: `pipeline/runs/${'r'.repeat(1010)}/i/output.log` })[1]).toBe("'key' is longer than S3's 1024 bytes");
});

test("a stream name with ':' or '*' is refused, naming the rule", () => {
  for (const logStreamName of ['nightly/AROAEXAMPLE:i-0123', 'nightly/*']) {
    const [name, message] = refusal({ ...good, logStreamName });
    expect(name).toBe(LOG_FORWARDER_ERRORS.INVALID_INPUT);
    expect(message).toBe(`'logStreamName' must not contain ':', '*' or control characters (CloudWatch Logs stream names match [^:*]*); got ${JSON.stringify(logStreamName)}`);
  }
  expect(refusal({ ...good, logStreamName: 's'.repeat(513) })[1]).toBe("'logStreamName' is longer than 512 characters");
  expect(parseInput({ ...good, logStreamName: 's'.repeat(512) }, env).logStreamName).toHaveLength(512);
});

test('only the bucket and log group the function was deployed for', () => {
  expect(refusal({ ...good, bucket: 'someone-elses-bucket' })[1]).toBe(
    "'bucket' must be the job bucket this function serves (job-bucket); got \"someone-elses-bucket\"",
  );
  expect(refusal({ ...good, logGroupName: '/other/group' })[1]).toBe(
    "'logGroupName' must be the job log group this function serves (/ssp/job-logs); got \"/other/group\"",
  );
  expect(refusal(good, {})[1]).toBe('the function\'s environment must set SSP_LOG_FORWARDER_BUCKET and SSP_LOG_FORWARDER_LOG_GROUP');
});

test('anything but the four string fields is refused', () => {
  expect(refusal(null)[1]).toMatch(/must be an object .*; got null$/);
  expect(refusal([good])[1]).toMatch(/got an array$/);
  expect(refusal('{"bucket":"job-bucket"}')[1]).toMatch(/got string$/);
  expect(refusal({ ...good, extra: 1 })[1]).toBe('unknown input field(s): "extra"; expected only bucket, key, logGroupName, logStreamName');
  expect(refusal({ ...good, key: 42 })[1]).toBe("'key' must be a non-empty string");
  const { logStreamName: _, ...missing } = good;
  expect(refusal(missing)[1]).toBe("'logStreamName' must be a non-empty string");
});

test('a long value is cut in the message', () => {
  const [, message] = refusal({ ...good, bucket: 'b'.repeat(5000) });
  expect(message.length).toBeLessThan(400);
  expect(message).toMatch(/b…"$/);
});
