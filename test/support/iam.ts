/**
 * A small evaluator for the identity-policy statements this construct writes: Allow/Deny, Action and
 * Resource with `*`/`?` wildcards, `${aws:userid}`-style policy variables, and the condition operators
 * the construct uses (StringEquals, StringNotEquals, StringLike). An explicit Deny wins, then an Allow,
 * else the request is implicitly denied. It is not AWS's evaluator; it reads the synthesized statements
 * exactly as written, so a statement that is missing or too wide shows up in tests that use it.
 */
export interface IamRequest {
  readonly action: string;
  readonly resource: string;
  /** Request context keys, e.g. { 'aws:userid': 'AROA...:i-1', 's3:ExistingObjectTag/ssp-owner': '...' }. */
  readonly context: Record<string, string | undefined>;
}

export type Decision = 'Allow' | 'Deny' | 'ImplicitDeny';

export function evaluate(statements: any[], req: IamRequest): Decision {
  let allowed = false;
  for (const st of statements) {
    if (!matchesAny(st.Action, req.action, req.context) || !matchesAny(st.Resource, req.resource, req.context)) continue;
    if (!conditionsHold(st.Condition ?? {}, req.context)) continue;
    if (st.Effect === 'Deny') return 'Deny';
    allowed = true;
  }
  return allowed ? 'Allow' : 'ImplicitDeny';
}

function matchesAny(patterns: string | string[] | undefined, value: string, ctx: IamRequest['context']): boolean {
  if (patterns === undefined) return false;
  return (Array.isArray(patterns) ? patterns : [patterns]).some((p) => wildcard(substitute(p, ctx), value));
}

function substitute(pattern: string, ctx: IamRequest['context']): string {
  // An unknown policy variable makes the pattern match nothing, like IAM does.
  return pattern.replace(/\$\{([^}]+)\}/g, (_m, key: string) => ctx[key] ?? '\u0000no-such-value\u0000');
}

function wildcard(pattern: string, value: string): boolean {
  const re = new RegExp('^' + pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('') + '$');
  return re.test(value);
}

function conditionsHold(conditions: Record<string, Record<string, string | string[]>>, ctx: IamRequest['context']): boolean {
  for (const [op, entries] of Object.entries(conditions)) {
    for (const [key, expected] of Object.entries(entries)) {
      const values = (Array.isArray(expected) ? expected : [expected]).map((v) => substitute(v, ctx));
      const actual = ctx[key];
      switch (op) {
        case 'StringEquals':
          if (actual === undefined || !values.includes(actual)) return false;
          break;
        case 'StringNotEquals':
          // A missing key is "not equal" for StringNotEquals.
          if (actual !== undefined && values.includes(actual)) return false;
          break;
        case 'StringLike':
          if (actual === undefined || !values.some((v) => wildcard(v, actual))) return false;
          break;
        default:
          throw new Error(`the test evaluator does not know condition operator ${op}`);
      }
    }
  }
  return true;
}
