/**
 * Fitting text into the limits of Step Functions' SendTaskFailure, and quoting for log lines.
 */
import { MAX_CAUSE_CHARS } from '../protocol';

/** Cut `text` to at most `max` UTF-16 units, keeping its head. */
export function truncateHead(text: string, max: number): string {
  if (text.length <= max) return text;
  let out = text.slice(0, max);
  const last = out.charCodeAt(out.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) out = out.slice(0, -1);
  return out;
}

/** Cut `text` to at most `max` UTF-16 units, keeping its tail, prefixed with a note of how much was cut. */
export function truncateTail(text: string, max: number): string {
  if (text.length <= max) return text;
  const marker = `[... ${text.length} chars, head truncated] `;
  if (marker.length >= max) return dropLeadingLowSurrogate(text.slice(text.length - max));
  return marker + dropLeadingLowSurrogate(text.slice(text.length - (max - marker.length)));
}

/** JSON cause of a failure, with `outputTail` shortened (from its start) until it fits MAX_CAUSE_CHARS. */
export function fitCause(fields: Record<string, unknown> & { outputTail?: string }): string {
  const full = JSON.stringify(fields);
  const tailText = fields.outputTail ?? '';
  if (full.length <= MAX_CAUSE_CHARS || tailText.length === 0) return full;
  // Binary search for the longest suffix of the tail that fits (escaping makes the JSON length non-linear).
  const withTail = (keep: number) => JSON.stringify({ ...fields, outputTail: dropLeadingLowSurrogate(tailText.slice(tailText.length - keep)) });
  let lo = 0;
  let hi = tailText.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (withTail(mid).length <= MAX_CAUSE_CHARS) lo = mid;
    else hi = mid - 1;
  }
  return withTail(lo);
}

/** An argument as a shell would need it quoted (for log lines only; the job is never run through a shell). */
export function quoteArg(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, '\'\\\'\'')}'`;
}

function dropLeadingLowSurrogate(text: string): string {
  const first = text.charCodeAt(0);
  return first >= 0xdc00 && first <= 0xdfff ? text.slice(1) : text;
}
