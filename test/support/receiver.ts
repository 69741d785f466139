import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: unknown;
  readonly rawBody: string;
  readonly at: number;
  /** The response this request got. */
  readonly status: number;
}

export interface Reply {
  readonly status?: number;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly delayMs?: number;
}

/** Decides each reply; `attempt` counts requests with the same body messageId (1 for the first). */
export type Responder = (req: { body: unknown; path: string; attempt: number; index: number }) => Reply;

/**
 * A real HTTP destination on 127.0.0.1 that records everything, and fails, delays or rate-limits as a
 * test tells it to.
 */
export class Receiver {
  readonly requests: ReceivedRequest[] = [];
  private readonly attempts = new Map<string, number>();
  private responder: Responder = () => ({ status: 200 });
  private server!: http.Server;
  url = '';

  static async start(responder?: Responder): Promise<Receiver> {
    const receiver = new Receiver();
    if (responder) receiver.respond(responder);
    await receiver.listen();
    return receiver;
  }

  respond(responder: Responder): void {
    this.responder = responder;
  }

  /** Requests answered 2xx, i.e. deliveries. */
  get delivered(): ReceivedRequest[] {
    return this.requests.filter((r) => r.status >= 200 && r.status < 300);
  }

  /** Delivered bodies, as parsed JSON. */
  deliveredBodies<T = Record<string, unknown>>(): T[] {
    return this.delivered.map((r) => r.body as T);
  }

  async waitFor(predicate: (r: Receiver) => boolean, timeoutMs = 60_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this)) {
      if (Date.now() > deadline) throw new Error(`receiver: timed out after ${timeoutMs} ms waiting for ${what}; got ${this.requests.length} request(s)`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private listen(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const rawBody = Buffer.concat(chunks).toString('utf8');
        let body: unknown = rawBody;
        try {
          body = rawBody ? JSON.parse(rawBody) : undefined;
        } catch {
          // Keep the raw text.
        }
        const messageId = (body as { messageId?: string } | undefined)?.messageId ?? rawBody;
        const attempt = (this.attempts.get(messageId) ?? 0) + 1;
        this.attempts.set(messageId, attempt);
        const reply = this.responder({ body, path: req.url ?? '/', attempt, index: this.requests.length });
        const status = reply.status ?? 200;
        const send = () => {
          this.requests.push({ method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body, rawBody, at: Date.now(), status });
          res.writeHead(status, { 'content-type': 'text/plain', ...reply.headers }).end(reply.body ?? (status < 300 ? 'ok' : 'error'));
        };
        if (reply.delayMs) setTimeout(send, reply.delayMs);
        else send();
      });
    });
    return new Promise((resolve) => {
      this.server.listen(0, '127.0.0.1', () => {
        this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
        resolve();
      });
    });
  }
}
