/**
 * Spot interruption notices, read from instance metadata (IMDSv2) on the heartbeat cadence.
 */
import * as http from 'http';
import type { Log } from './log';
import type { Loops } from './loops';
import { describeError } from './util';

/** Spot interruption notice from instance metadata. */
export interface SpotNotice {
  readonly action: string;
  readonly time: string;
}

/** Where instance metadata is when `SSP_IMDS_ENDPOINT` does not say otherwise. */
export const DEFAULT_IMDS_ENDPOINT = 'http://169.254.169.254';

const IMDS_TOKEN_TTL_SECONDS = 21_600;
const IMDS_TIMEOUT_MS = 1_000;

/** Polls `spot/instance-action` through IMDSv2. Never throws; logs once while metadata is unreachable. */
export class SpotWatcher {
  private token?: { value: string; expires: number };
  private unreachableLogged = false;

  private readonly endpoint: string;
  constructor(endpoint: string, private readonly log: Log) {
    this.endpoint = endpoint.replace(/\/+$/, '');
  }

  /** The notice, if there is one; `undefined` when there is none or metadata does not answer. */
  public async check(): Promise<SpotNotice | undefined> {
    try {
      const notice = await this.poll(true);
      this.unreachableLogged = false;
      return notice;
    } catch (e) {
      if (!this.unreachableLogged) {
        this.unreachableLogged = true;
        this.log(`instance metadata at ${this.endpoint} is not answering (${describeError(e)}); Spot interruption notices cannot be seen until it does`);
      }
      return undefined;
    }
  }

  private async poll(retryOn401: boolean): Promise<SpotNotice | undefined> {
    if (!this.token || Date.now() >= this.token.expires) {
      const res = await imdsRequest(`${this.endpoint}/latest/api/token`, 'PUT', { 'X-aws-ec2-metadata-token-ttl-seconds': String(IMDS_TOKEN_TTL_SECONDS) });
      if (res.status !== 200) throw new Error(`token request answered HTTP ${res.status}`);
      this.token = { value: res.body.trim(), expires: Date.now() + (IMDS_TOKEN_TTL_SECONDS - 60) * 1000 };
    }
    const res = await imdsRequest(`${this.endpoint}/latest/meta-data/spot/instance-action`, 'GET', { 'X-aws-ec2-metadata-token': this.token.value });
    if (res.status === 404) return undefined;
    if (res.status === 401 && retryOn401) {
      this.token = undefined;
      return this.poll(false);
    }
    if (res.status !== 200) throw new Error(`spot/instance-action answered HTTP ${res.status}`);
    let parsed: { action?: unknown; time?: unknown } = {};
    try {
      parsed = JSON.parse(res.body);
    } catch {
      // A 200 is a notice even if its body is odd.
    }
    return {
      action: typeof parsed.action === 'string' ? parsed.action : res.body.trim() || 'unknown',
      time: typeof parsed.time === 'string' ? parsed.time : '',
    };
  }
}

/**
 * Check for a Spot interruption notice now and every `intervalMs` until `loops` stop; the first notice goes to
 * `onNotice` (and ends the checks).
 */
export function startSpotLoop(watcher: SpotWatcher, intervalMs: number, loops: Loops, log: Log, onNotice: (notice: SpotNotice) => void): void {
  const tick = async () => {
    const notice = await watcher.check();
    if (loops.signal.aborted) return;
    if (notice) {
      log(`Spot interruption notice: ${notice.action} at ${notice.time}`);
      return onNotice(notice);
    }
    loops.schedule(() => void tick(), intervalMs);
  };
  void tick();
}

function imdsRequest(url: string, method: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, timeout: IMDS_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(Object.assign(new Error(`timed out after ${IMDS_TIMEOUT_MS} ms`), { code: 'ETIMEDOUT' })), IMDS_TIMEOUT_MS);
    req.on('timeout', () => req.destroy(Object.assign(new Error(`timed out after ${IMDS_TIMEOUT_MS} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.on('close', () => clearTimeout(timer));
    req.end();
  });
}
