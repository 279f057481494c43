/**
 * The forwarder's pure steps: which part of a log fits the budget, how lines become event messages, their
 * timestamps, and how events are packed into PutLogEvents batches.
 */
import { checkBatch } from './fake-logs';
import {
  EVENT_OVERHEAD_BYTES,
  MAX_BATCH_BYTES,
  MAX_BATCH_EVENTS,
  MAX_EVENT_MESSAGE_BYTES,
  eventSize,
  keepHead,
  keepTail,
  lineCost,
  messagesOf,
  splitMessage,
  toBatches,
  toEvents,
} from '../../src/log-forwarder';

const b = (text: string) => Buffer.from(text, 'utf8');

describe('lineCost', () => {
  test('a line costs its bytes plus 26 per event it becomes', () => {
    expect(lineCost(0)).toBe(26);
    expect(lineCost(10)).toBe(36);
    expect(lineCost(MAX_EVENT_MESSAGE_BYTES)).toBe(MAX_EVENT_MESSAGE_BYTES + 26);
    expect(lineCost(MAX_EVENT_MESSAGE_BYTES + 1)).toBe(MAX_EVENT_MESSAGE_BYTES + 1 + 52);
  });
});

describe('keepHead', () => {
  test('keeps whole lines while they fit, and cuts the first that does not', () => {
    const log = b('aaaa\nbbbb\ncccc\n');
    expect(keepHead(log, 1000)).toBe(log.length);
    // Each line costs 4 + 26 = 30: two fit in 60, and the third gets nothing (26 bytes of room buy no text).
    expect(keepHead(log, 60)).toBe(10);
    // 2 bytes more room: the third line's first 2 bytes.
    expect(keepHead(log, 60 + 26 + 2)).toBe(12);
  });

  test('a log of one huge line keeps its start', () => {
    const log = Buffer.alloc(1000, 'x');
    expect(keepHead(log, 126)).toBe(100);
  });

  test('never cuts inside a UTF-8 character', () => {
    const log = b('€€€€'); // 3 bytes each
    // room for 4 bytes of text: one whole euro sign, not one and a third
    expect(keepHead(log, 26 + 4)).toBe(3);
    expect(b('€€€€').subarray(0, keepHead(log, 26 + 4)).toString('utf8')).toBe('€');
  });

  test('an empty buffer keeps nothing and needs no budget', () => {
    expect(keepHead(Buffer.alloc(0), 0)).toBe(0);
  });
});

describe('keepTail', () => {
  test('keeps whole lines from the end while they fit', () => {
    const log = b('aaaa\nbbbb\ncccc\n');
    expect(keepTail(log, 1000)).toBe(0);
    expect(keepTail(log, 60)).toBe(5); // bbbb, cccc
    expect(log.subarray(keepTail(log, 60)).toString()).toBe('bbbb\ncccc\n');
  });

  test('a last line without a newline counts like the others', () => {
    const log = b('aaaa\nbbbb\ncccc');
    expect(log.subarray(keepTail(log, 30)).toString()).toBe('cccc');
  });

  test('cuts the first line that does not fit to its end, at a character boundary', () => {
    const log = b('aaaa\n€€€€\n');
    // 4 bytes of text fit: the last euro sign and not a partial one.
    expect(log.subarray(keepTail(log, 26 + 4)).toString()).toBe('€\n');
  });

  test('stops at the floor (the end of what the head kept)', () => {
    const log = b('aaaa\nbbbb\ncccc\n');
    expect(keepTail(log, 1000, 5)).toBe(5);
    expect(keepTail(log, 1000, 7)).toBe(7); // the rest of a line the head cut
  });

  test('empty lines count 26 bytes each', () => {
    const log = b('a\n\n\n');
    expect(keepTail(log, 52)).toBe(2);
    expect(keepTail(log, 1000)).toBe(0);
  });
});

describe('messagesOf', () => {
  test('one message per line; no empty message for the final newline; CR of CRLF dropped; empty lines as a space', () => {
    expect(messagesOf(b('one\ntwo\r\n\nfour\n'))).toEqual(['one', 'two', ' ', 'four']);
    expect(messagesOf(b('no newline'))).toEqual(['no newline']);
    expect(messagesOf(Buffer.alloc(0))).toEqual([]);
  });

  test('invalid UTF-8 reads as U+FFFD', () => {
    expect(messagesOf(Buffer.from([0x61, 0xff, 0x62]))).toEqual(['a\ufffdb']);
  });

  test('a line over the event limit becomes several messages that join back to it', () => {
    const line = 'é'.repeat(200_000); // 400,000 bytes
    const messages = messagesOf(b(`${line}\nnext\n`));
    expect(messages.length).toBe(3);
    expect(messages.slice(0, 2).join('')).toBe(line);
    expect(messages[2]).toBe('next');
    for (const m of messages) expect(Buffer.byteLength(m)).toBeLessThanOrEqual(MAX_EVENT_MESSAGE_BYTES);
  });
});

describe('splitMessage', () => {
  test('cuts between characters, never inside one', () => {
    expect(splitMessage('€€€', 4)).toEqual(['€', '€', '€']);
    expect(splitMessage('ab€cd', 4)).toEqual(['ab', '€c', 'd']);
    expect(splitMessage('short', 10)).toEqual(['short']);
  });
});

describe('toEvents', () => {
  test('one millisecond apart, in order, the last at the end time', () => {
    expect(toEvents(['a', 'b', 'c'], 1_000_000)).toEqual([
      { timestamp: 999_998, message: 'a' },
      { timestamp: 999_999, message: 'b' },
      { timestamp: 1_000_000, message: 'c' },
    ]);
  });
});

describe('toBatches', () => {
  test('at most 10,000 events per batch, in order', () => {
    const events = toEvents(Array.from({ length: 25_001 }, (_, i) => `line ${i}`), 5_000_000);
    const batches = toBatches(events);
    expect(batches.map((x) => x.length)).toEqual([MAX_BATCH_EVENTS, MAX_BATCH_EVENTS, 5_001]);
    expect(batches.flat()).toEqual(events);
    for (const batch of batches) expect(checkBatch(batch)).toBeUndefined();
  });

  test('at most 1,048,576 bytes per batch, counting 26 bytes per event', () => {
    // 1,000-byte messages cost 1,026: 1,022 fit (1,048,572 bytes), the 1,023rd would not.
    const events = toEvents(Array.from({ length: 3_000 }, () => 'x'.repeat(1_000)), 5_000_000);
    const batches = toBatches(events);
    expect(batches.map((x) => x.length)).toEqual([1_022, 1_022, 956]);
    for (const batch of batches) {
      expect(batch.reduce((n, e) => n + eventSize(e), 0)).toBeLessThanOrEqual(MAX_BATCH_BYTES);
      expect(checkBatch(batch)).toBeUndefined();
    }
  });

  test('events of the largest size fill a batch to the byte limit', () => {
    const big = 'x'.repeat(MAX_EVENT_MESSAGE_BYTES);
    const batches = toBatches(toEvents([big, big, big, big, big], 5_000_000));
    // 262,144 bytes each: exactly four fit in 1,048,576.
    expect(batches.map((x) => x.length)).toEqual([4, 1]);
    expect(4 * (MAX_EVENT_MESSAGE_BYTES + EVENT_OVERHEAD_BYTES)).toBe(MAX_BATCH_BYTES);
  });

  test('refuses an event over the size the forwarder keeps to', () => {
    expect(() => toBatches(toEvents(['x'.repeat(MAX_EVENT_MESSAGE_BYTES + 1)], 1))).toThrow(/over the 262144-byte limit/);
  });

  test('no events, no batches', () => {
    expect(toBatches([])).toEqual([]);
  });
});
