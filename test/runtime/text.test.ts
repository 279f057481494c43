/**
 * Fitting text into SendTaskFailure's limits (src/runtime/text.ts).
 */
import { MAX_CAUSE_CHARS } from '../../src/protocol';
import { fitCause, truncateHead, truncateTail } from '../../src/runtime';

test('truncateHead / truncateTail never split a surrogate pair', () => {
  expect(truncateHead('abc', 5)).toBe('abc');
  expect(truncateHead('ab😀', 3)).toBe('ab');
  const t = truncateTail('x'.repeat(100) + '😀end', 40);
  expect(t.length).toBeLessThanOrEqual(40);
  expect(t.endsWith('😀end')).toBe(true);
  expect(truncateTail('😀'.repeat(30), 45).length).toBeLessThanOrEqual(45);
  expect(truncateTail('😀'.repeat(30), 45)).not.toMatch(/^[\udc00-\udfff]/);
});

test('fitCause shortens the output tail to fit, keeping valid JSON', () => {
  const cause = fitCause({ exitCode: 1, outputTail: 'a'.repeat(10) + '\u0001'.repeat(MAX_CAUSE_CHARS) + 'END' });
  expect(cause.length).toBeLessThanOrEqual(MAX_CAUSE_CHARS);
  const parsed = JSON.parse(cause);
  expect(parsed.exitCode).toBe(1);
  expect(parsed.outputTail.endsWith('END')).toBe(true);
});
