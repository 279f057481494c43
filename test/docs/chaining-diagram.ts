/**
 * The README's "Chaining and fan-out" diagram: the parent workflow of the multi-step example (example/etl.ts), drawn
 * from its synthesized definition. `npx projen readme:diagram` rewrites it; test/docs/chaining-diagram.test.ts fails
 * while it is stale.
 */
import * as fs from 'fs';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { README_FILE, replaceBlock } from './diagram';
import { etlWorkflow } from '../../example/etl';
import { ShellScriptPipeline } from '../../src';
import { mermaidDiagram } from '../../src/local/diagram';
import { definitionOf, refId, TEST_ENV } from '../support/template';

export const BEGIN = '<!-- chaining diagram (generated from example/etl.ts; npx projen readme:diagram) -->';
export const END = '<!-- /chaining diagram -->';

/** The parent workflow's definition, as the example builds it. */
export function etlDefinition(): any {
  const stack = new Stack(new App(), 'TestStack', { env: TEST_ENV });
  const pipeline = new ShellScriptPipeline(stack, 'Etl', { notifyOnSuccess: false, notifyOnFailure: false });
  const parent = etlWorkflow(stack, 'EtlWorkflow', { pipeline, topic: pipeline.topic, shards: ['eu', 'us', 'apac'] });
  const json = Template.fromStack(stack).toJSON();
  return definitionOf(json, (id) => id === refId({ stack, json } as any, parent.stateMachineArn));
}

export function renderChainingDiagram(): string {
  return [BEGIN, '```mermaid', mermaidDiagram(etlDefinition()), '```', END].join('\n');
}

export function withChainingDiagram(readme: string, block: string): string {
  return replaceBlock(readme, BEGIN, END, block);
}

if (require.main === module) {
  const before = fs.readFileSync(README_FILE, 'utf8');
  const after = withChainingDiagram(before, renderChainingDiagram());
  if (after !== before) fs.writeFileSync(README_FILE, after);
  console.log(after === before ? 'README chaining diagram is current' : 'README chaining diagram redrawn');
}
