import { Stack, Validations } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/**
 * cdk-nag acknowledgements, recorded with aws-cdk-lib's own Validations metadata so the library does not depend on
 * cdk-nag. cdk-nag 3 honours an acknowledgement on the flagged resource or on any of its ancestors
 * (cdk-nag 3.0.2, lib/nag-pack.js `isAcknowledged`), so each one goes on the narrowest construct that holds the finding.
 */
export interface NagAcknowledgement {
  /** The cdk-nag finding, e.g. `AwsSolutions-S1` or `AwsSolutions-IAM5[Resource::<Bucket.Arn>/*]`. */
  readonly id: string;
  /** Why the finding is by design, in words a reviewer can check against the construct. */
  readonly reason: string;
}

/**
 * A state whose IAM statements (its `taskPolicies`) carry findings that are by design. The state machine that runs it
 * records these on its role's policy, next to the statements they explain.
 */
export interface IAcknowledgedState {
  /** The acknowledgements for this state's own statements. */
  nagAcknowledgements(): NagAcknowledgement[];
}

export function isAcknowledgedState(x: unknown): x is IAcknowledgedState {
  return typeof (x as IAcknowledgedState | undefined)?.nagAcknowledgements === 'function';
}

/**
 * Acknowledges findings on `scope` (and so on its children). `Validations.acknowledge()` refuses IDs with more than
 * one '::', which cdk-nag's IDs for ARNs built with the partition token contain ('<AWS::Partition>'); those are
 * recorded under the same metadata key that `acknowledge()` writes and cdk-nag reads. The same ID and reason twice
 * on one construct is recorded once.
 */
export function acknowledge(scope: IConstruct, ...rules: NagAcknowledgement[]): void {
  const seen = new Set(
    scope.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) => Object.entries<string>(m.data ?? {}).map(([id, reason]) => `${id.replace(/^annotation::/i, '')}\n${reason}`)),
  );
  for (const rule of rules) {
    if (seen.has(`${rule.id}\n${rule.reason}`)) continue;
    seen.add(`${rule.id}\n${rule.reason}`);
    if (rule.id.split('::').length > 2) {
      scope.node.addMetadata(Validations.ACKNOWLEDGED_RULES_METADATA_KEY, { [rule.id]: rule.reason });
    } else {
      Validations.of(scope).acknowledge(rule);
    }
  }
}

/**
 * The text cdk-nag puts in a finding for a policy resource: the resolved value with CloudFormation references
 * flattened, `{Ref: X}` as `<X>`, `{Fn::GetAtt: [X, Y]}` as `<X.Y>` and `${X}` inside Fn::Sub as `<X>`
 * (the same rules as cdk-nag 3.0.2's lib/utils/flatten-cfn-reference.js). Computing IDs from the very tokens the
 * policies hold keeps them right whatever the stack's environment or synthesizer.
 */
export function nagText(scope: IConstruct, value: unknown): string {
  const visit = (node: any): string => {
    if (node === undefined) return '';
    if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/}/g, '>');
    if (node['Fn::Join']) return (node['Fn::Join'][1] as any[]).map(visit).join(node['Fn::Join'][0]);
    if (node['Fn::Sub']) return visit(node['Fn::Sub']);
    if (node['Fn::GetAtt']) return `<${visit(node['Fn::GetAtt'][0])}.${visit(node['Fn::GetAtt'][1])}>`;
    if (node['Fn::ImportValue']) return visit(node['Fn::ImportValue']);
    if (node.Ref) return `<${visit(node.Ref)}>`;
    return JSON.stringify(node);
  };
  return visit(Stack.of(scope).resolve(value));
}

/** The cdk-nag finding for an Allow statement on a wildcard resource, e.g. `arn:...:instance/*`. */
export function wildcardResource(scope: IConstruct, arn: string): string {
  return `AwsSolutions-IAM5[Resource::${nagText(scope, arn)}]`;
}

/** The cdk-nag finding for an Allow statement with a wildcard action, e.g. `s3:List*`. */
export function wildcardAction(action: string): string {
  return `AwsSolutions-IAM5[Action::${action}]`;
}
