/**
 * A Mermaid flowchart of a state machine, drawn from its Amazon States Language definition: the real one,
 * synthesized, so the picture cannot drift from what is deployed.
 *
 * - The main path is drawn with solid arrows, in flow order (the order states are first reached from StartAt,
 *   following Next and Default before choices and before error handlers).
 * - Choice branches are labelled with what they test; error handlers (Catch) are dashed and labelled with the
 *   errors they catch. Retries are noted on the state ("retries: ...").
 * - A Map or Parallel state is drawn as one node; its inner states are summarized in the label.
 *
 * Pure: no CDK, no AWS. Used by the README's diagram (test/docs) and by the local runner.
 */

/** The parts of an ASL state this module reads. */
interface AslState {
  readonly Type: string;
  readonly Next?: string;
  readonly End?: boolean;
  readonly Default?: string;
  readonly Choices?: ReadonlyArray<{ readonly Next: string; readonly [k: string]: unknown }>;
  readonly Catch?: ReadonlyArray<{ readonly ErrorEquals: string[]; readonly Next: string }>;
  readonly Retry?: ReadonlyArray<{ readonly ErrorEquals: string[] }>;
  readonly Iterator?: AslMachine;
  readonly ItemProcessor?: AslMachine;
  readonly Branches?: AslMachine[];
  readonly Error?: string;
}

/** An ASL definition (or a Map's processor). */
export interface AslMachine {
  readonly StartAt: string;
  readonly States: Record<string, AslState>;
}

/**
 * The states of a definition in flow order: first the states on a way to success, depth first from StartAt
 * (Next, then Default, then choice branches), then the failure paths in the same order.
 */
export function flowOrder(machine: AslMachine): string[] {
  const succeeding = statesThatCanSucceed(machine);
  const seen = new Set<string>();
  const order: string[] = [];
  const visit = (name: string, only?: Set<string>): void => {
    if (seen.has(name) || !machine.States[name] || (only && !only.has(name))) return;
    seen.add(name);
    order.push(name);
    for (const next of successors(machine.States[name])) visit(next, only);
  };
  visit(machine.StartAt, succeeding.size > 0 ? succeeding : undefined);
  visit2(machine.StartAt);
  // States reached from nowhere (none in a valid definition) are kept, so nothing is hidden.
  for (const name of Object.keys(machine.States)) visit(name);
  return order;

  function visit2(name: string): void {
    // Second pass: the failure paths, entered from the states already placed.
    for (const placed of [...order]) for (const next of successors(machine.States[placed])) visit(next);
    visit(name);
  }
}

/** Where a state can go: Next, Default, choice branches, then error handlers. */
function successors(s: AslState): string[] {
  return [s.Next, s.Default, ...(s.Choices ?? []).map((c) => c.Next), ...(s.Catch ?? []).map((c) => c.Next)].filter(
    (n): n is string => typeof n === 'string',
  );
}

/** The states from which a Succeed state (or an End that is not a Fail) can be reached. */
function statesThatCanSucceed(machine: AslMachine): Set<string> {
  const good = new Set(
    Object.entries(machine.States)
      .filter(([, s]) => s.Type === 'Succeed' || (s.End === true && s.Type !== 'Fail'))
      .map(([n]) => n),
  );
  let grew = true;
  while (grew) {
    grew = false;
    for (const [name, s] of Object.entries(machine.States)) {
      if (!good.has(name) && successors(s).some((n) => good.has(n))) {
        good.add(name);
        grew = true;
      }
    }
  }
  return good;
}

/** Mermaid flowchart text for one definition. */
export function mermaidDiagram(machine: AslMachine, options: { title?: string } = {}): string {
  const order = flowOrder(machine);
  const id = new Map(order.map((name, i) => [name, `s${i}`]));
  const lines: string[] = [];
  if (options.title) lines.push('---', `title: ${options.title}`, '---');
  lines.push('flowchart TD');
  lines.push('  start(( )) --> ' + id.get(machine.StartAt));
  for (const name of order) {
    const s = machine.States[name];
    lines.push(`  ${id.get(name)}${shape(name, s)}`);
  }
  for (const name of order) {
    const s = machine.States[name];
    const from = id.get(name)!;
    if (s.Next) lines.push(`  ${from} --> ${id.get(s.Next)}`);
    (s.Choices ?? []).forEach((c) => lines.push(`  ${from} -->|${escape(describeChoice(c))}| ${id.get(c.Next)}`));
    if (s.Default) lines.push(`  ${from} -->|otherwise| ${id.get(s.Default)}`);
    for (const c of s.Catch ?? []) lines.push(`  ${from} -.->|${escape(c.ErrorEquals.join(', '))}| ${id.get(c.Next)}`);
  }
  const fails = order.filter((n) => machine.States[n].Type === 'Fail').map((n) => id.get(n));
  const succeeds = order.filter((n) => machine.States[n].Type === 'Succeed').map((n) => id.get(n));
  lines.push('  classDef fail fill:#fdd,stroke:#c33', '  classDef ok fill:#dfd,stroke:#3a3');
  if (fails.length) lines.push(`  class ${fails.join(',')} fail`);
  if (succeeds.length) lines.push(`  class ${succeeds.join(',')} ok`);
  return lines.join('\n');
}

function shape(name: string, s: AslState): string {
  const notes: string[] = [];
  if (s.Type === 'Fail' && s.Error) notes.push(s.Error);
  if (s.Retry?.length) notes.push(`retries: ${s.Retry.flatMap((r) => r.ErrorEquals).join(', ')}`);
  const inner = s.ItemProcessor ?? s.Iterator;
  if (inner) notes.push(`for each item: ${flowOrder(inner).join(' → ')}`);
  if (s.Branches?.length === 1) notes.push(`runs: ${flowOrder(s.Branches[0]).join(' → ')}`);
  else if (s.Branches) notes.push(`${s.Branches.length} branches in parallel`);
  const label = escape([name, ...notes].join('\n'));
  switch (s.Type) {
    case 'Choice':
      return `{"${label}"}`;
    case 'Succeed':
    case 'Fail':
      return `(["${label}"])`;
    case 'Map':
    case 'Parallel':
      return `[["${label}"]]`;
    default:
      return `["${label}"]`;
  }
}

/** A short text for a Choice rule: the variable and the comparison (nested And/Or/Not shortened). */
function describeChoice(rule: Record<string, unknown>): string {
  const variable = typeof rule.Variable === 'string' ? rule.Variable : undefined;
  const op = Object.keys(rule).find((k) => k !== 'Variable' && k !== 'Next');
  if (!op) return 'match';
  if (op === 'And' || op === 'Or') return `${op.toLowerCase()} of ${(rule[op] as unknown[]).length} rules`;
  if (op === 'Not') return `not ${describeChoice(rule[op] as Record<string, unknown>)}`;
  const value = rule[op];
  const shown = typeof value === 'string' && value.length > 40 ? `${value.slice(0, 37)}...` : JSON.stringify(value);
  return `${variable ?? ''} ${op} ${shown}`.trim();
}

/** Mermaid labels: quotes and line breaks as entities. */
function escape(text: string): string {
  return text.replace(/"/g, '#quot;').replace(/\|/g, '#124;').replace(/\n/g, '<br/>');
}
