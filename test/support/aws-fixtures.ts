/**
 * Real AWS shapes for the fakes: see test/fixtures/aws/README.md. A fake that needs an AWS error or response
 * takes it from here, so its text is the one AWS sends (with the source named in the fixture), not our guess.
 */
import * as fs from 'fs';
import * as path from 'path';

export const AWS_FIXTURES_DIR = path.join(__dirname, '..', 'fixtures', 'aws');

export interface AwsFixture {
  readonly source: string[];
  readonly quote: string;
  readonly confidence: 'verbatim' | 'paraphrased' | 'inferred';
  readonly shape: any;
  readonly notes?: string;
}

export function awsFixtureNames(): string[] {
  return fs.readdirSync(AWS_FIXTURES_DIR).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, '')).sort();
}

export function awsFixture(name: string): AwsFixture {
  const file = path.join(AWS_FIXTURES_DIR, `${name}.json`);
  if (!fs.existsSync(file)) throw new Error(`no AWS fixture '${name}' in ${AWS_FIXTURES_DIR}`);
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/**
 * A Step Functions task failure `{ Error, Cause }` from a fixture, as a thrown error for aws-local-stepfunctions
 * handlers (which route on `error.name` and put `message` in the Cause).
 */
export function taskFailure(name: string): Error {
  const { shape } = awsFixture(name);
  if (typeof shape?.Error !== 'string' || typeof shape?.Cause !== 'string') {
    throw new Error(`AWS fixture '${name}' is not a task failure {Error, Cause}`);
  }
  const e = new Error(shape.Cause);
  e.name = shape.Error;
  return e;
}
