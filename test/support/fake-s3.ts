/**
 * A tiny local stand-in for Amazon S3: path-style `PUT /<bucket>/<key>` (with object tags from the `x-amz-tagging`
 * header) and `GET /<bucket>/<key>` (`404 NoSuchKey` XML for a missing key), enough for the runtime's hand-overs.
 * PUT honours `If-None-Match: *` (412 PreconditionFailed when the key exists, as PutObject's IfNoneMatch does).
 * GET also answers `Last-Modified` and an MD5 `ETag`, and honours `If-Match` (412 PreconditionFailed) and a single
 * `Range: bytes=<first>-<last>` (206 with `Content-Range`; 416 InvalidRange when `first` is past the end), as
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html describes (the log forwarder reads that way).
 *
 * Point the SDK (or the bundled runtime) at it with `AWS_ENDPOINT_URL_S3=<fake.url>` and static credentials; the
 * runtime then uses path-style requests. It records every request and can inject faults.
 *
 * ```ts
 * const s3 = new FakeS3();
 * await s3.start();
 * s3.putObject('bucket', 'pipeline/handoff/i-1.json', '{...}', { 'ssp-owner': 'AROA:i-1' });
 * s3.injectFault({ method: 'PUT', fault: 'AccessDenied' });
 * // ... run something with AWS_ENDPOINT_URL_S3=s3.url ...
 * await s3.stop();
 * ```
 */
import { createHash } from 'crypto';
import * as http from 'http';
import { LoopbackServer } from './loopback-server';

/** An object the fake holds. */
export interface FakeObject {
  readonly body: Buffer;
  /** Tags from `x-amz-tagging` (decoded). */
  readonly tags: Record<string, string>;
  readonly contentType?: string;
  readonly time: number;
}

/** One request the fake received. */
export interface S3Request {
  readonly method: string;
  readonly bucket: string;
  readonly key: string;
  /** Tags sent with a PUT (decoded `x-amz-tagging`). */
  readonly tags?: Record<string, string>;
  /** The raw `x-amz-tagging` header. */
  readonly tagging?: string;
  /** Body of a PUT (UTF-8). */
  readonly body?: string;
  /** Whether the request carried a SigV4 `Authorization` header. */
  readonly signed: boolean;
  readonly time: number;
  /** HTTP status answered (`0` when the connection was dropped). */
  status: number;
  /** Error code answered, if any. */
  code?: string;
  /** The `Range` header of a GET, if any. */
  readonly range?: string;
  /** The `If-Match` header of a GET, if any. */
  readonly ifMatch?: string;
  /** The `If-None-Match` header of a PUT, if any. */
  readonly ifNoneMatch?: string;
}

/**
 * What a faulted request answers: an S3 error code (`'AccessDenied'` 403, `'SlowDown'` 503, `'InternalError'` 500,
 * `'NoSuchBucket'` 404, other codes 400), a bare HTTP status, `'reset'` (connection destroyed), or `{ delayMs }`: the
 * normal answer, that much later (a slow upload).
 */
export type S3Fault = string | number | 'reset' | { readonly delayMs: number };

/** The next `times` requests matching `method` (and `key`) answer `fault`. */
export interface S3FaultRule {
  readonly method?: 'GET' | 'PUT';
  readonly key?: string;
  /** Default 1; `Infinity` for all. */
  readonly times?: number;
  readonly fault: S3Fault;
}

const STATUS_OF: Record<string, number> = {
  AccessDenied: 403, SlowDown: 503, InternalError: 500, ServiceUnavailable: 503, NoSuchBucket: 404, NoSuchKey: 404,
};

export class FakeS3 extends LoopbackServer {
  /** Every request received, in order. */
  public readonly requests: S3Request[] = [];
  private readonly objects = new Map<string, FakeObject>();
  private faults: Array<S3FaultRule & { remaining: number }> = [];

  /** Store an object directly (as if someone had PUT it). */
  public putObject(bucket: string, key: string, body: string | Buffer, tags: Record<string, string> = {}): void {
    this.objects.set(`${bucket}/${key}`, { body: Buffer.from(body), tags: { ...tags }, time: Date.now() });
  }

  /** An object, or `undefined`. */
  public getObject(bucket: string, key: string): FakeObject | undefined {
    return this.objects.get(`${bucket}/${key}`);
  }

  /** Keys of a bucket's objects (optionally under a prefix), sorted. */
  public keys(bucket: string, prefix = ''): string[] {
    const head = `${bucket}/${prefix}`;
    return [...this.objects.keys()].filter((k) => k.startsWith(head)).map((k) => k.slice(bucket.length + 1)).sort();
  }

  /** Requests received, optionally only of one method and/or key. */
  public requestsFor(method?: string, key?: string): S3Request[] {
    return this.requests.filter((r) => (method === undefined || r.method === method) && (key === undefined || r.key === key));
  }

  public injectFault(rule: S3FaultRule): void {
    this.faults.push({ ...rule, remaining: rule.times ?? 1 });
  }

  public clearFaults(): void {
    this.faults = [];
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const [bucket, ...rest] = url.pathname.slice(1).split('/');
      const key = rest.map((p) => decodeURIComponent(p)).join('/');
      const method = req.method ?? '';
      const tagging = typeof req.headers['x-amz-tagging'] === 'string' ? req.headers['x-amz-tagging'] : undefined;
      const body = Buffer.concat(chunks);
      const request: S3Request = {
        method,
        bucket: decodeURIComponent(bucket ?? ''),
        key,
        tagging,
        tags: tagging === undefined ? undefined : parseTagging(tagging),
        body: method === 'PUT' ? body.toString('utf8') : undefined,
        signed: String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256'),
        range: typeof req.headers.range === 'string' ? req.headers.range : undefined,
        ifMatch: typeof req.headers['if-match'] === 'string' ? req.headers['if-match'] : undefined,
        ifNoneMatch: typeof req.headers['if-none-match'] === 'string' ? req.headers['if-none-match'] : undefined,
        time: Date.now(),
        status: 0,
      };
      this.requests.push(request);

      if (!request.signed) return this.error(res, request, 403, 'AccessDenied', 'Anonymous requests are not allowed');
      if (!request.bucket || !key) return this.error(res, request, 400, 'InvalidRequest', 'path-style /<bucket>/<key> requests only');

      const fault = this.takeFault(request);
      if (typeof fault === 'object') {
        setTimeout(() => this.answer(req, res, request, url, body), fault.delayMs);
        return;
      }
      if (fault !== undefined) {
        if (fault === 'reset') {
          req.socket.destroy();
          return;
        }
        if (typeof fault === 'number') return this.error(res, request, fault, fault >= 500 ? 'InternalError' : 'InvalidRequest', 'injected fault');
        return this.error(res, request, STATUS_OF[fault] ?? 400, fault, `injected ${fault}`);
      }
      this.answer(req, res, request, url, body);
    });
  }

  /** The answer of an S3 that works: store a PUT (If-None-Match), return a GET (If-Match, one byte range). */
  private answer(req: http.IncomingMessage, res: http.ServerResponse, request: S3Request, url: URL, body: Buffer): void {
    const { method, key } = request;
    const id = `${request.bucket}/${key}`;
    if (method === 'PUT') {
      if (url.searchParams.has('tagging') || url.searchParams.has('uploads') || url.searchParams.has('partNumber')) {
        return this.error(res, request, 501, 'NotImplemented', 'only plain PutObject is supported');
      }
      // "Uploads the object only if the object key name does not already exist ... Otherwise, Amazon S3 returns a
      // 412 Precondition Failed error" (@aws-sdk/client-s3 PutObjectRequest.IfNoneMatch).
      if (request.ifNoneMatch === '*' && this.objects.has(id)) {
        return this.error(res, request, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
      }
      const contentType = typeof req.headers['content-type'] === 'string' ? req.headers['content-type'] : undefined;
      this.objects.set(id, { body, tags: request.tags ?? {}, contentType, time: request.time });
      request.status = 200;
      res.writeHead(200, { 'etag': etagOf(body), 'content-length': 0, 'x-amz-request-id': `fake-${this.requests.length}` });
      res.end();
      return;
    }
    if (method === 'GET') {
      const obj = this.objects.get(id);
      if (!obj) return this.error(res, request, 404, 'NoSuchKey', 'The specified key does not exist.');
      const etag = etagOf(obj.body);
      if (request.ifMatch !== undefined && request.ifMatch !== etag) {
        return this.error(res, request, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
      }
      let payload = obj.body;
      let contentRange: string | undefined;
      if (request.range !== undefined) {
        const m = /^bytes=(\d+)-(\d+)$/.exec(request.range);
        if (!m) return this.error(res, request, 501, 'NotImplemented', 'the fake supports only Range: bytes=<first>-<last>');
        const first = Number(m[1]);
        if (first >= obj.body.length) return this.error(res, request, 416, 'InvalidRange', 'The requested range is not satisfiable');
        const last = Math.min(Number(m[2]), obj.body.length - 1);
        payload = obj.body.subarray(first, last + 1);
        contentRange = `bytes ${first}-${last}/${obj.body.length}`;
      }
      request.status = contentRange === undefined ? 200 : 206;
      res.writeHead(request.status, {
        'content-type': obj.contentType ?? 'application/octet-stream',
        'content-length': payload.length,
        'etag': etag,
        'last-modified': new Date(obj.time).toUTCString(),
        'accept-ranges': 'bytes',
        ...(contentRange === undefined ? {} : { 'content-range': contentRange }),
        'x-amz-tagging-count': String(Object.keys(obj.tags).length),
      });
      res.end(payload);
      return;
    }
    return this.error(res, request, 405, 'MethodNotAllowed', `${method} is not supported by the fake`);
  }

  private takeFault(request: S3Request): S3Fault | undefined {
    const rule = this.faults.find((f) => f.remaining > 0
      && (f.method === undefined || f.method === request.method)
      && (f.key === undefined || f.key === request.key));
    if (!rule) return undefined;
    rule.remaining--;
    this.faults = this.faults.filter((f) => f.remaining > 0);
    return rule.fault;
  }

  private error(res: http.ServerResponse, request: S3Request, status: number, code: string, message: string): void {
    request.status = status;
    request.code = code;
    const xml = '<?xml version="1.0" encoding="UTF-8"?>\n'
      + `<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message><Key>${escapeXml(request.key)}</Key><RequestId>fake-${this.requests.length}</RequestId></Error>`;
    res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml), 'x-amz-request-id': `fake-${this.requests.length}` });
    res.end(xml);
  }
}

/** S3's ETag of a single-part upload: the quoted MD5 of the body. */
function etagOf(body: Buffer): string {
  return `"${createHash('md5').update(body).digest('hex')}"`;
}

/** Decode an `x-amz-tagging` header (`k1=v1&k2=v2`, URL-encoded). */
export function parseTagging(header: string): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(header)) tags[k] = v;
  return tags;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
