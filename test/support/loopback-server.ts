import * as http from 'http';
import type { AddressInfo } from 'net';

/**
 * An HTTP server on 127.0.0.1 at a free port, for the local fakes of AWS endpoints.
 * Subclasses answer requests in `handle`.
 */
export abstract class LoopbackServer {
  private readonly server = http.createServer((req, res) => this.handle(req, res));
  private _url?: string;

  /** The base URL, e.g. http://127.0.0.1:41234. */
  public get url(): string {
    if (!this._url) throw new Error(`${this.constructor.name} is not started`);
    return this._url;
  }

  public async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    this._url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this._url;
  }

  public async stop(): Promise<void> {
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  protected abstract handle(req: http.IncomingMessage, res: http.ServerResponse): void;
}
