/**
 * The README's "Chaining and fan-out" diagram is the example parent workflow's real definition.
 */
import * as fs from 'fs';
import { BEGIN, END, renderChainingDiagram, withChainingDiagram } from './chaining-diagram';
import { README_FILE } from './diagram';

const README = fs.readFileSync(README_FILE, 'utf8');

test('the README shows the current diagram of the example parent workflow (npx projen readme:diagram)', () => {
  expect(withChainingDiagram(README, renderChainingDiagram())).toEqual(README);
});

test('the diagram names every step of the example and the states inside them', () => {
  const block = README.slice(README.indexOf(BEGIN), README.indexOf(END));
  for (const name of ['Extract', 'Transform: each shard', 'Transform: shard', 'Load', 'Notify ETL success', 'Notify ETL failure']) {
    expect(block).toContain(name);
  }
});
