import * as fs from 'fs';
import { README_FILE, renderDiagrams, withDiagrams } from './diagram';
import { flowOrder, mermaidDiagram } from '../../src/local/diagram';
import { definitionOf, synth } from '../support/template';

describe('workflow diagram', () => {
  test("the README's diagram is drawn from the current definitions (npx projen readme:diagram)", () => {
    const readme = fs.readFileSync(README_FILE, 'utf8');
    expect(withDiagrams(readme, renderDiagrams())).toEqual(readme);
  });

  test('every state of both machines is in the diagram, once, with every transition', () => {
    const { json } = synth();
    for (const machine of [definitionOf(json, (id) => !id.includes('Cleanup')), definitionOf(json, (id) => id.includes('Cleanup'))]) {
      const text = mermaidDiagram(machine);
      const order = flowOrder(machine);
      expect([...order].sort()).toEqual(Object.keys(machine.States).sort());
      for (const [name, s] of Object.entries<any>(machine.States)) {
        const id = `s${order.indexOf(name)}`;
        expect(text).toContain(`  ${id}`);
        const targets = [s.Next, s.Default, ...(s.Choices ?? []).map((c: any) => c.Next), ...(s.Catch ?? []).map((c: any) => c.Next)].filter(Boolean);
        for (const t of targets) expect(text).toMatch(new RegExp(`  ${id} -(->|\\.->)(\\|[^|]*\\|)? s${order.indexOf(t)}\\n`));
      }
    }
  });

  test('flow order: the way to success first, from StartAt, then the failure paths', () => {
    const machine = {
      StartAt: 'A',
      States: {
        A: { Type: 'Choice', Choices: [{ Variable: '$.bad', IsPresent: true, Next: 'Reject' }], Default: 'B' },
        Reject: { Type: 'Pass', Next: 'Fail' },
        B: { Type: 'Task', Next: 'Done', Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Reject' }] },
        Done: { Type: 'Succeed' },
        Fail: { Type: 'Fail', Error: 'X' },
      },
    };
    expect(flowOrder(machine)).toEqual(['A', 'B', 'Done', 'Reject', 'Fail']);
    const text = mermaidDiagram(machine);
    expect(text).toContain('s1 -.->|States.ALL| s3');
    expect(text).toContain('s0 -->|otherwise| s1');
    expect(text).toContain('class s4 fail');
  });
});
