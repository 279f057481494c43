/**
 * A local stand-in for the EC2 instance metadata service (IMDSv2), just enough for Spot interruption notices:
 * `PUT /latest/api/token` (needs `X-aws-ec2-metadata-token-ttl-seconds`) and
 * `GET /latest/meta-data/spot/instance-action` (needs `X-aws-ec2-metadata-token`; 404 until a notice is set).
 */
import * as http from 'http';
import { LoopbackServer } from './loopback-server';

export interface SpotNotice {
  readonly action: 'terminate' | 'stop' | 'hibernate';
  readonly time: string;
}

export interface ImdsRequest {
  readonly method: string;
  readonly path: string;
  /** Answered status. */
  readonly status: number;
}

export class FakeImds extends LoopbackServer {
  public readonly requests: ImdsRequest[] = [];
  private readonly issued = new Set<string>();
  private notice?: SpotNotice;

  /** Publish a Spot interruption notice (or withdraw it with `undefined`). */
  public setNotice(notice: SpotNotice | undefined): void {
    this.notice = notice;
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const answer = (status: number, body = '') => {
      this.requests.push({ method: req.method ?? '', path: req.url ?? '', status });
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    req.resume();
    req.on('end', () => {
      if (req.url === '/latest/api/token') {
        if (req.method !== 'PUT') return answer(405);
        const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
        if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) return answer(400);
        const token = `imds-${this.issued.size + 1}-${Math.random().toString(36).slice(2)}`;
        this.issued.add(token);
        return answer(200, token);
      }
      if (req.method !== 'GET') return answer(405);
      const token = String(req.headers['x-aws-ec2-metadata-token'] ?? '');
      if (!this.issued.has(token)) return answer(401);
      if (req.url === '/latest/meta-data/spot/instance-action') {
        return this.notice ? answer(200, JSON.stringify(this.notice)) : answer(404, 'Not Found');
      }
      return answer(404, 'Not Found');
    });
  }
}
