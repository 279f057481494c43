/**
 * The README's workflow diagram, drawn from the synthesized definitions of the default construct.
 * `npx projen readme:diagram` rewrites it; test/docs/diagram.test.ts fails while it is stale.
 */
import * as fs from 'fs';
import * as path from 'path';
import { mermaidDiagram } from '../../src/local/diagram';
import { definitionOf, synth } from '../support/template';

export const README_FILE = path.resolve(__dirname, '..', '..', 'README.md');
export const BEGIN = '<!-- diagram (generated from the synthesized definitions; npx projen readme:diagram) -->';
export const END = '<!-- /diagram -->';

/** The Markdown between the markers: the run state machine and the cleanup state machine. */
export function renderDiagrams(): string {
  const { json } = synth();
  const run = definitionOf(json, (id) => !id.includes('Cleanup'));
  const cleanup = definitionOf(json, (id) => id.includes('Cleanup'));
  return [
    BEGIN,
    '**The run state machine** (`stateMachine`), default props: solid arrows are the way to success, dashed ones error handlers.',
    '',
    '```mermaid',
    mermaidDiagram(run),
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

export function withDiagrams(readme: string, block: string): string {
  const from = readme.indexOf(BEGIN);
  const to = readme.indexOf(END);
  if (from < 0 || to < from) throw new Error(`README.md has no '${BEGIN}' ... '${END}' block`);
  return readme.slice(0, from) + block + readme.slice(to + END.length);
}

if (require.main === module) {
  const before = fs.readFileSync(README_FILE, 'utf8');
  const after = withDiagrams(before, renderDiagrams());
  if (after !== before) fs.writeFileSync(README_FILE, after);
  console.log(after === before ? 'README diagram is current' : 'README diagram redrawn');
}
