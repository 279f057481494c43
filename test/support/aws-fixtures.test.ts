import { awsFixture, awsFixtureNames, taskFailure } from './aws-fixtures';

describe('real AWS shapes (test/fixtures/aws)', () => {
  test('there are fixtures to check', () => {
    expect(awsFixtureNames().length).toBeGreaterThan(10);
  });

  test.each(awsFixtureNames())('%s names its source, its confidence and a shape', (name) => {
    const f = awsFixture(name);
    expect(Array.isArray(f.source)).toBe(true);
    expect(f.source.length).toBeGreaterThan(0);
    for (const s of f.source) expect(s.trim().length).toBeGreaterThan(5);
    expect(['verbatim', 'paraphrased', 'inferred']).toContain(f.confidence);
    expect(f.quote.trim().length).toBeGreaterThan(0);
    expect(f.shape).toBeDefined();
  });

  test('every EC2 error through the aws-sdk integration is Ec2.Ec2Exception with the message and service suffix in the Cause', () => {
    for (const name of awsFixtureNames().filter((n) => n.startsWith('ec2-run-') || n.startsWith('ec2-terminate-'))) {
      const e = taskFailure(name);
      expect(e.name).toBe('Ec2.Ec2Exception');
      expect(e.message).toMatch(/\(Service: Ec2, Status Code: \d{3}, Request ID: [^)]+\)$/);
    }
  });

  test('a fixture that is not a task failure is refused as one', () => {
    expect(() => taskFailure('sns-publish-limits')).toThrow(/not a task failure/);
    expect(() => awsFixture('no-such-fixture')).toThrow(/no AWS fixture/);
  });
});
