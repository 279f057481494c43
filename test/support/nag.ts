import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';

export interface NagReport {
  success: boolean;
  violations: { ruleName: string; description: string; violatingResources: { constructPath: string }[] }[];
}

/** Runs cdk-nag 3's AwsSolutions pack over a stack (synthesized first: cdk-nag 3 reads the finished construct tree). */
export function nag(stack: Stack): NagReport {
  Template.fromStack(stack);
  return new AwsSolutionsChecks(undefined as any, { verbose: false }).validateScope(stack) as unknown as NagReport;
}

/** One line per finding: `<rule> at <construct path>, ...`. */
export function readable(report: NagReport): string[] {
  return report.violations.map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
}

/** Every acknowledgement recorded in the stack, as [construct path, rule id, reason]. */
export function acknowledgements(stack: Stack): [string, string, string][] {
  const out: [string, string, string][] = [];
  for (const c of stack.node.findAll()) {
    for (const m of c.node.metadata) {
      if (m.type === 'aws:cdk:acknowledged-rules') {
        // aws-cdk-lib records plain IDs with an 'annotation::' prefix, which cdk-nag strips when it reads them.
        for (const [id, reason] of Object.entries<string>(m.data)) out.push([c.node.path, id.replace(/^annotation::/i, ''), reason]);
      }
    }
  }
  return out;
}
