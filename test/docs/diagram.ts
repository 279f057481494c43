/**
 * The README's workflow diagram, drawn from the synthesized definitions of the default construct.
 * `npx projen readme:diagram` rewrites it; test/docs/diagram.test.ts fails while it is stale.
 */
import * as fs from 'fs';
import * as path from 'path';
import { mermaidDiagram } from '../../src/local/diagram';
import { definitionOf, refId, synth } from '../support/template';

export const README_FILE = path.resolve(__dirname, '..', '..', 'README.md');
export const BEGIN = '<!-- diagram (generated from the synthesized definitions; npx projen readme:diagram) -->';
export const END = '<!-- /diagram -->';

/** The definitions of the default construct's state machines: the run, the input validation and the cleanup. */
export function pipelineDefinitions(): { run: any; validation: any; cleanup: any } {
  const s = synth();
  const of = (machine: typeof s.pipeline.stateMachine) => definitionOf(s.json, (id) => id === refId(s, machine.stateMachineArn));
  return { run: of(s.pipeline.stateMachine), validation: of(s.pipeline.validationStateMachine), cleanup: of(s.pipeline.cleanupStateMachine) };
}

/** The Markdown between the markers: the run state machine, the input validation state machine and the cleanup state machine. */
export function renderDiagrams(): string {
  const { run, validation, cleanup } = pipelineDefinitions();
  return [
    BEGIN,
    '**The run state machine** (`stateMachine`), default props: solid arrows are the way to success, dashed ones error handlers.',
    '',
    '```mermaid',
    mermaidDiagram(run),
    '```',
    '',
    '**The input validation state machine** (`validationStateMachine`, Express), which "Validate input" calls: ' +
      'every check of the execution input, each failure an `Input.*` error.',
    '',
    '```mermaid',
    mermaidDiagram(validation),
    '```',
    '',
    '**The cleanup state machine** (`cleanupStateMachine`), started by `cleanupRule` when a run ends ABORTED, TIMED_OUT or FAILED:',
    '',
    '```mermaid',
    mermaidDiagram(cleanup),
    '```',
    END,
  ].join('\n');
}

/** The README with its generated block between `begin` and `end` (markers included) replaced by `block`. */
export function replaceBlock(readme: string, begin: string, end: string, block: string): string {
  const from = readme.indexOf(begin);
  const to = readme.indexOf(end);
  if (from < 0 || to < from) throw new Error(`README.md has no '${begin}' ... '${end}' block`);
  return readme.slice(0, from) + block + readme.slice(to + end.length);
}

export function withDiagrams(readme: string, block: string): string {
  return replaceBlock(readme, BEGIN, END, block);
}

if (require.main === module) {
  const before = fs.readFileSync(README_FILE, 'utf8');
  const after = withDiagrams(before, renderDiagrams());
  if (after !== before) fs.writeFileSync(README_FILE, after);
  console.log(after === before ? 'README diagram is current' : 'README diagram redrawn');
}
