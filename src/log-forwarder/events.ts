/**
 * From log bytes to PutLogEvents batches: pure functions, no AWS.
 *
 * - `keepHead` / `keepTail` choose how much of each end of a log fits a budget (in PutLogEvents bytes);
 * - `messagesOf` turns log bytes into event messages, one per line (over-long lines become several);
 * - `toEvents` gives them timestamps; `toBatches` packs them into calls within the PutLogEvents limits (./limits).
 */
import { EVENT_OVERHEAD_BYTES, MAX_BATCH_BYTES, MAX_BATCH_EVENTS, MAX_EVENT_MESSAGE_BYTES } from './limits';

const NEWLINE = 0x0a;

/** One PutLogEvents `InputLogEvent`. */
export interface LogEvent {
  readonly timestamp: number;
  readonly message: string;
}

/** What a line of `bytes` UTF-8 bytes costs in a batch: its bytes plus the overhead of each event it becomes. */
export function lineCost(bytes: number): number {
  return bytes + EVENT_OVERHEAD_BYTES * Math.max(1, Math.ceil(bytes / MAX_EVENT_MESSAGE_BYTES));
}

/** The `lineCost`s of all lines of `buf`. */
export function logCost(buf: Buffer): number {
  let cost = 0;
  let pos = 0;
  while (pos < buf.length) {
    const newline = buf.indexOf(NEWLINE, pos);
    const end = newline === -1 ? buf.length : newline;
    cost += lineCost(end - pos);
    pos = end + 1;
  }
  return cost;
}

/** Whether `byte` continues a UTF-8 sequence (10xxxxxx, 0x80 to 0xBF) rather than starting a character. */
function isContinuation(byte: number | undefined): boolean {
  return byte !== undefined && byte >= 0x80 && byte <= 0xbf;
}

/**
 * End (exclusive) of the longest start of `buf`, in whole lines, whose `lineCost`s fit `budget`. The first line that
 * does not fit is cut to what fits, at a character boundary, so a log of one huge line still forwards its start.
 * Costs are counted on the raw bytes: invalid UTF-8 decodes to U+FFFD (3 bytes) and can make the events a little
 * larger than the budget, never larger than the batch limits (`toBatches` measures the decoded messages).
 */
export function keepHead(buf: Buffer, budget: number): number {
  let pos = 0;
  let spent = 0;
  while (pos < buf.length) {
    const newline = buf.indexOf(NEWLINE, pos);
    const contentEnd = newline === -1 ? buf.length : newline;
    const lineEnd = newline === -1 ? buf.length : newline + 1;
    const cost = lineCost(contentEnd - pos);
    if (spent + cost <= budget) {
      spent += cost;
      pos = lineEnd;
      continue;
    }
    let take = fittingBytes(budget - spent);
    while (take > 0 && isContinuation(buf[pos + take])) take--;
    return pos + take;
  }
  return pos;
}

/**
 * Start of the longest end of `buf`, in whole lines and not before `floor`, whose `lineCost`s fit `budget`. The first
 * line (from the end) that does not fit is cut to its last bytes that fit, at a character boundary.
 */
export function keepTail(buf: Buffer, budget: number, floor = 0): number {
  let start = buf.length;
  let spent = 0;
  while (start > floor) {
    // The line that ends at `start` (its newline, if any, is the byte before `start`).
    const contentEnd = buf[start - 1] === NEWLINE ? start - 1 : start;
    const previousNewline = contentEnd > 0 ? buf.lastIndexOf(NEWLINE, contentEnd - 1) : -1;
    const lineStart = Math.max(previousNewline + 1, floor);
    const cost = lineCost(contentEnd - lineStart);
    if (spent + cost <= budget) {
      spent += cost;
      start = lineStart;
      continue;
    }
    let from = contentEnd - Math.min(fittingBytes(budget - spent), contentEnd - lineStart);
    while (from < contentEnd && isContinuation(buf[from])) from++;
    // The newline after a cut line stays with it (the line's remainder becomes its own event).
    return from === contentEnd ? start : from;
  }
  return start;
}

/** Most bytes of a single line whose `lineCost` fits `room`. */
function fittingBytes(room: number): number {
  if (room <= EVENT_OVERHEAD_BYTES) return 0;
  const pieces = Math.ceil(room / (MAX_EVENT_MESSAGE_BYTES + EVENT_OVERHEAD_BYTES));
  return Math.max(0, room - pieces * EVENT_OVERHEAD_BYTES);
}

/**
 * The event messages of a stretch of log: one per line, without the newline (and without a `\r` before it).
 * A trailing newline does not start another line. An empty line becomes a single space: a message must be at least
 * one character (InputLogEvent, "Length Constraints: Minimum length of 1",
 * https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_InputLogEvent.html). A line longer than
 * `MAX_EVENT_MESSAGE_BYTES` in UTF-8 becomes several messages, split at character boundaries. Invalid UTF-8 reads as
 * U+FFFD.
 */
export function messagesOf(bytes: Buffer): string[] {
  const messages: string[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const newline = bytes.indexOf(NEWLINE, pos);
    const end = newline === -1 ? bytes.length : newline;
    let line = bytes.toString('utf8', pos, end);
    if (line.endsWith('\r')) line = line.slice(0, -1);
    messages.push(...splitMessage(line === '' ? ' ' : line));
    pos = end + 1;
  }
  return messages;
}

/** `text` in pieces of at most `MAX_EVENT_MESSAGE_BYTES` UTF-8 bytes, cut between characters. */
export function splitMessage(text: string, maxBytes = MAX_EVENT_MESSAGE_BYTES): string[] {
  const encoded = Buffer.from(text, 'utf8');
  if (encoded.length <= maxBytes) return [text];
  const pieces: string[] = [];
  let pos = 0;
  while (pos < encoded.length) {
    let end = Math.min(pos + maxBytes, encoded.length);
    while (end > pos && isContinuation(encoded[end])) end--;
    pieces.push(encoded.toString('utf8', pos, end));
    pos = end;
  }
  return pieces;
}

/**
 * Timestamps for `messages`: one millisecond apart, the last at `endTime`. The log has no times of its own; the run's
 * end (when the instance uploaded the log) is the best time there is, and strictly increasing timestamps keep the
 * lines in order in every view of the stream (PutLogEvents wants "chronological order by their timestamp" within a
 * batch, and readers order events by timestamp). A forwarded run is at most about 155,000 events, so the first is at
 * most about 2.5 minutes before the last.
 */
export function toEvents(messages: readonly string[], endTime: number): LogEvent[] {
  const first = endTime - (messages.length - 1);
  return messages.map((message, i) => ({ timestamp: first + i, message }));
}

/** The PutLogEvents size of one event: its UTF-8 bytes plus the per-event overhead. */
export function eventSize(event: LogEvent): number {
  return Buffer.byteLength(event.message, 'utf8') + EVENT_OVERHEAD_BYTES;
}

/**
 * Packs `events` (in order) into batches of at most `MAX_BATCH_EVENTS` events and `MAX_BATCH_BYTES` bytes.
 * Every event must already be at most `MAX_EVENT_MESSAGE_BYTES` (`messagesOf` sees to it).
 */
export function toBatches(events: readonly LogEvent[]): LogEvent[][] {
  const batches: LogEvent[][] = [];
  let batch: LogEvent[] = [];
  let bytes = 0;
  for (const event of events) {
    const size = eventSize(event);
    if (size > MAX_EVENT_MESSAGE_BYTES + EVENT_OVERHEAD_BYTES) {
      throw new Error(`log event of ${size} bytes is over the ${MAX_EVENT_MESSAGE_BYTES + EVENT_OVERHEAD_BYTES}-byte limit the forwarder keeps to`);
    }
    if (batch.length === MAX_BATCH_EVENTS || bytes + size > MAX_BATCH_BYTES) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(event);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}
