/**
 * A small local stand-in for Amazon CloudWatch Logs: CreateLogStream and PutLogEvents over the service's JSON protocol
 * (AWS JSON 1.1, `POST /` with `X-Amz-Target: Logs_20140328.<Operation>`, as @aws-sdk/client-cloudwatch-logs 3.1169.0
 * sends them), enough for the log forwarder. It holds log groups (made with `createLogGroup`), their streams and
 * events, records every request, checks each PutLogEvents batch against the documented limits, and can inject faults.
 *
 * What it answers (shapes from the SDK model, limits from src/log-forwarder/limits.ts and its sources):
 * - CreateLogStream: `{}`; `ResourceAlreadyExistsException` for an existing stream; `ResourceNotFoundException` for a
 *   missing group; `InvalidParameterException` for a name outside 1..512 characters or with ':' or '*'.
 * - PutLogEvents: `{}` (or `{ rejectedLogEventsInfo }` when told to); `ResourceNotFoundException` for a missing group
 *   or stream; `InvalidParameterException` for a batch over 1,048,576 bytes (UTF-8 messages + 26 per event) or
 *   10,000 events, an event over 1 MB, an empty message, events out of chronological order, or a span over 24 hours.
 * Errors are `400 {"__type": "<Name>", "message": "..."}`; the messages are the fake's own words.
 */
import * as http from 'http';
import { LoopbackServer } from '../support/loopback-server';

export interface StoredEvent {
  readonly timestamp: number;
  readonly message: string;
}

export interface LogsRequest {
  /** `CreateLogStream`, `PutLogEvents`, ... (the part of X-Amz-Target after the dot). */
  readonly operation: string;
  readonly body: any;
  /** The request's size in bytes. */
  readonly bytes: number;
  readonly signed: boolean;
  status: number;
  error?: string;
}

export interface LogsFaultRule {
  readonly operation: string;
  /** Default 1. */
  readonly times?: number;
  /** Let this many matching requests through first. Default 0. */
  readonly after?: number;
  /** An error name answered with 400 (`ThrottlingException`, `ServiceUnavailableException` with 503), or a status. */
  readonly fault: string | number;
}

/** The PutLogEvents limits the fake enforces (the API reference's numbers; 1 MB is today's per-event limit). */
export const FAKE_LIMITS = { batchBytes: 1_048_576, eventOverhead: 26, batchEvents: 10_000, eventBytes: 1_048_576, spanMs: 24 * 3600 * 1000 };

export class FakeLogs extends LoopbackServer {
  public readonly requests: LogsRequest[] = [];
  private readonly groups = new Map<string, Map<string, StoredEvent[]>>();
  private faults: Array<LogsFaultRule & { remaining: number; skip: number }> = [];
  private rejectNext?: Record<string, number>;

  public createLogGroup(name: string): void {
    if (!this.groups.has(name)) this.groups.set(name, new Map());
  }

  public createLogStream(group: string, stream: string): void {
    this.groups.get(group)!.set(stream, []);
  }

  /** The events of a stream, or `undefined` when it does not exist. */
  public events(group: string, stream: string): StoredEvent[] | undefined {
    return this.groups.get(group)?.get(stream);
  }

  public streams(group: string): string[] {
    return [...(this.groups.get(group)?.keys() ?? [])];
  }

  public requestsFor(operation: string): LogsRequest[] {
    return this.requests.filter((r) => r.operation === operation);
  }

  public injectFault(rule: LogsFaultRule): void {
    this.faults.push({ ...rule, remaining: rule.times ?? 1, skip: rule.after ?? 0 });
  }

  /** The next PutLogEvents answers this `rejectedLogEventsInfo` (and stores only the events it does not name). */
  public rejectEventsOnce(info: Record<string, number>): void {
    this.rejectNext = info;
  }

  public reset(): void {
    this.requests.length = 0;
    this.groups.clear();
    this.faults = [];
    this.rejectNext = undefined;
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const target = String(req.headers['x-amz-target'] ?? '');
      const [prefix, operation = ''] = target.split('.');
      let body: any;
      try {
        body = JSON.parse(raw.toString('utf8') || '{}');
      } catch {
        body = undefined;
      }
      const request: LogsRequest = {
        operation,
        body,
        bytes: raw.length,
        signed: String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256'),
        status: 0,
      };
      this.requests.push(request);
      const fail = (status: number, name: string, message: string) => {
        request.status = status;
        request.error = name;
        const text = JSON.stringify({ __type: name, message });
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      const ok = (result: object) => {
        request.status = 200;
        const text = JSON.stringify(result);
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };

      if (req.method !== 'POST' || prefix !== 'Logs_20140328') return fail(400, 'UnknownOperationException', `not a CloudWatch Logs request: ${req.method} ${target}`);
      if (String(req.headers['content-type']) !== 'application/x-amz-json-1.1') return fail(400, 'SerializationException', 'expected application/x-amz-json-1.1');
      if (!request.signed) return fail(400, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
      if (body === undefined) return fail(400, 'SerializationException', 'body is not JSON');

      const rule = this.faults.find((f) => f.remaining > 0 && f.operation === operation && f.skip-- <= 0);
      if (rule) {
        rule.remaining--;
        this.faults = this.faults.filter((f) => f.remaining > 0);
        if (typeof rule.fault === 'number') return fail(rule.fault, rule.fault >= 500 ? 'ServiceUnavailableException' : 'InvalidParameterException', 'injected fault');
        return fail(rule.fault === 'ServiceUnavailableException' ? 503 : 400, rule.fault, `injected ${rule.fault}`);
      }

      const group = this.groups.get(body.logGroupName);
      switch (operation) {
        case 'CreateLogStream': {
          const name = body.logStreamName;
          if (typeof name !== 'string' || name.length < 1 || name.length > 512 || /[:*]/.test(name)) {
            return fail(400, 'InvalidParameterException', `invalid log stream name: ${JSON.stringify(name)}`);
          }
          if (!group) return fail(400, 'ResourceNotFoundException', 'The specified log group does not exist.');
          if (group.has(name)) return fail(400, 'ResourceAlreadyExistsException', 'The specified log stream already exists');
          group.set(name, []);
          return ok({});
        }
        case 'PutLogEvents': {
          if (!group) return fail(400, 'ResourceNotFoundException', 'The specified log group does not exist.');
          const stream = group.get(body.logStreamName);
          if (!stream) return fail(400, 'ResourceNotFoundException', 'The specified log stream does not exist.');
          const events: StoredEvent[] = body.logEvents;
          const problem = checkBatch(events);
          if (problem) return fail(400, 'InvalidParameterException', problem);
          const info = this.rejectNext;
          this.rejectNext = undefined;
          const tooOldEnd = info?.tooOldLogEventEndIndex ?? 0;
          const tooNewStart = info?.tooNewLogEventStartIndex ?? events.length;
          stream.push(...events.slice(tooOldEnd, tooNewStart));
          return ok(info ? { rejectedLogEventsInfo: info } : {});
        }
        default:
          return fail(400, 'UnknownOperationException', `the fake does not implement ${operation}`);
      }
    });
  }
}

/** What is wrong with a PutLogEvents batch, or `undefined`. */
export function checkBatch(events: StoredEvent[]): string | undefined {
  if (!Array.isArray(events) || events.length === 0) return 'logEvents must hold at least one event';
  if (events.length > FAKE_LIMITS.batchEvents) return `${events.length} events exceed the limit of ${FAKE_LIMITS.batchEvents}`;
  let bytes = 0;
  for (const [i, e] of events.entries()) {
    if (typeof e.message !== 'string' || e.message.length < 1) return `event ${i} has an empty message`;
    if (typeof e.timestamp !== 'number') return `event ${i} has no timestamp`;
    const size = Buffer.byteLength(e.message, 'utf8');
    if (size > FAKE_LIMITS.eventBytes) return `Log event too large: ${size} bytes exceeds limit of ${FAKE_LIMITS.eventBytes}`;
    bytes += size + FAKE_LIMITS.eventOverhead;
    if (i > 0 && e.timestamp < events[i - 1].timestamp) return 'Log events in a single PutLogEvents request must be in chronological order.';
  }
  if (bytes > FAKE_LIMITS.batchBytes) return `Upload too large: ${bytes} bytes exceeds limit of ${FAKE_LIMITS.batchBytes}`;
  if (events[events.length - 1].timestamp - events[0].timestamp > FAKE_LIMITS.spanMs) return 'The batch of log events in a single PutLogEvents request cannot span more than 24 hours.';
  return undefined;
}
