/**
 * The local stand-in for the two AWS APIs the job-side runtime calls, on 127.0.0.1:
 * - Step Functions' task-token callbacks (SendTaskHeartbeat, SendTaskSuccess, SendTaskFailure), JSON protocol
 *   (`POST /`, `X-Amz-Target: AWSStepFunctions.<Action>`, https://docs.aws.amazon.com/step-functions/latest/apireference/CommonParameters.html);
 * - S3 PutObject, path style (`PUT /<bucket>/<key>`), which the runtime uses for a result over 32 KiB; objects land in
 *   the local bucket folder.
 * The runtime reaches it through `AWS_ENDPOINT_URL_SFN` / `AWS_ENDPOINT_URL_S3` (the SDK's service-specific endpoints,
 * https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html).
 */
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';

/** How a task token ended. */
export type TokenOutcome = { readonly ok: true; readonly output: any } | { readonly ok: false; readonly error: string; readonly cause: string };

interface OpenToken {
  readonly settle: (outcome: TokenOutcome) => void;
  readonly heartbeatSeconds?: number;
  timer?: NodeJS.Timeout;
}

export class LocalEndpoint {
  private server?: http.Server;
  private readonly open = new Map<string, OpenToken>();
  private readonly closed = new Set<string>();
  /** The heartbeats received, per token. */
  public readonly heartbeats = new Map<string, number>();

  /** @param s3Root the folder that holds one folder per bucket */
  constructor(private readonly s3Root: string) {}

  public get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  public async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.answer(req, Buffer.concat(chunks), res));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
  }

  public async stop(): Promise<void> {
    for (const t of this.open.values()) clearTimeout(t.timer);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /**
   * Waits for the runtime's answer to `token`. Like the waiting state's HeartbeatSeconds, the token fails with
   * States.HeartbeatTimeout when no heartbeat arrives for `heartbeatSeconds` (the local interpreter does not enforce
   * HeartbeatSeconds itself; https://docs.aws.amazon.com/step-functions/latest/dg/state-task.html#task-state-fields).
   */
  public waitFor(token: string, heartbeatSeconds?: number): Promise<TokenOutcome> {
    // A later attempt of the same execution waits on the same token again (the local context has one per execution).
    this.closed.delete(token);
    return new Promise((resolve) => {
      const entry: OpenToken = { settle: resolve, heartbeatSeconds };
      this.open.set(token, entry);
      this.arm(token, entry);
    });
  }

  /** Ends a token from outside (the state's own timeout, the run ending): later calls on it answer TaskTimedOut. */
  public close(token: string): void {
    const t = this.open.get(token);
    if (t) clearTimeout(t.timer);
    this.open.delete(token);
    this.closed.add(token);
  }

  private arm(token: string, entry: OpenToken): void {
    clearTimeout(entry.timer);
    if (!entry.heartbeatSeconds) return;
    entry.timer = setTimeout(() => {
      this.close(token);
      entry.settle({ ok: false, error: 'States.HeartbeatTimeout', cause: `no heartbeat for ${entry.heartbeatSeconds} s (local run)` });
    }, entry.heartbeatSeconds * 1000);
    entry.timer.unref();
  }

  private answer(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): void {
    const target = String(req.headers['x-amz-target'] ?? '');
    if (req.method === 'POST' && target.startsWith('AWSStepFunctions.')) return this.stepFunctions(target.slice('AWSStepFunctions.'.length), body, res);
    if (req.method === 'PUT') return this.putObject(req.url ?? '/', body, res);
    res.writeHead(400, { 'content-type': 'text/plain' }).end(`the local endpoint does not answer ${req.method} ${req.url} ${target}`);
    return undefined;
  }

  private stepFunctions(action: string, body: Buffer, res: http.ServerResponse): void {
    const json = (status: number, obj: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' }).end(JSON.stringify(obj));
    };
    // Errors have the service's shape: HTTP 400, `__type` and `message` (test/fixtures/aws/sfn-api-task-timed-out.json,
    // sfn-api-invalid-token.json).
    const fail = (type: string, message: string) => json(400, { __type: `com.amazonaws.swf.service.v2.model#${type}`, message });
    let request: any;
    try {
      request = JSON.parse(body.toString('utf8'));
    } catch {
      return fail('SerializationException', 'the body is not JSON');
    }
    const token: string = request.taskToken;
    const entry = this.open.get(token);
    if (!['SendTaskHeartbeat', 'SendTaskSuccess', 'SendTaskFailure'].includes(action)) return fail('UnknownOperationException', `${action} is not answered locally`);
    // A token that was answered or timed out answers TaskTimedOut; one never handed out, InvalidToken.
    if (!entry) return this.closed.has(token) ? fail('TaskTimedOut', "Task Timed Out: 'Provided task does not exist anymore'") : fail('InvalidToken', "Invalid Token: 'Invalid token'");
    // Each answers 200 with an empty JSON object (API_SendTaskHeartbeat, API_SendTaskSuccess, API_SendTaskFailure in
    // https://docs.aws.amazon.com/step-functions/latest/apireference/); a heartbeat restarts the heartbeat clock.
    if (action === 'SendTaskHeartbeat') {
      this.heartbeats.set(token, (this.heartbeats.get(token) ?? 0) + 1);
      this.arm(token, entry);
      return json(200, {});
    }
    this.close(token);
    if (action === 'SendTaskSuccess') {
      let output: any;
      try {
        output = JSON.parse(request.output);
      } catch {
        return fail('InvalidOutput', 'the output is not JSON');
      }
      entry.settle({ ok: true, output });
    } else {
      entry.settle({ ok: false, error: request.error ?? '', cause: request.cause ?? '' });
    }
    return json(200, {});
  }

  /**
   * PutObject, path style: the object goes to `<s3Root>/<bucket>/<key>`; S3 answers 200 with an ETag
   * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html).
   */
  private putObject(url: string, body: Buffer, res: http.ServerResponse): void {
    const key = decodeURIComponent(url.split('?')[0]).replace(/^\/+/, '');
    const file = path.resolve(this.s3Root, key);
    if (!file.startsWith(path.resolve(this.s3Root) + path.sep)) {
      res.writeHead(400).end('bad key');
      return;
    }
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, body);
    res.writeHead(200, { ETag: '"local"' }).end();
  }
}
