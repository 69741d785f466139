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
  /** Requests that were answered, in the order they were answered. */
  readonly requests: ReceivedRequest[] = [];
  /** Every request as it arrived, answered or not (a held request may never be). */
  readonly arrivals: Array<{ readonly messageId?: string; readonly idempotencyKey?: string; readonly at: number }> = [];
  private holding = false;
  private readonly held: Array<() => void> = [];
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

  /** Waits until no request has arrived for `quietMs`: after hold(), every sender is waiting on it. */
  async waitForQuiet(quietMs = 1_000, timeoutMs = 30_000, what = 'the senders to go quiet'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let seen = this.arrivals.length;
    for (;;) {
      await new Promise((r) => setTimeout(r, quietMs));
      if (this.arrivals.length === seen) return;
      seen = this.arrivals.length;
      if (Date.now() > deadline) throw new Error(`receiver: timed out after ${timeoutMs} ms waiting for ${what}; requests kept arriving`);
    }
  }

  /**
   * From now on, requests are received but not answered until release(): a destination that hangs.
   * A client that dies meanwhile had exactly heldCount requests open at this receiver.
   */
  hold(): void {
    this.holding = true;
  }

  /** Answers the held requests (those whose client is gone are dropped) and answers at once again. */
  release(): void {
    this.holding = false;
    for (const answer of this.held.splice(0)) answer();
  }

  get heldCount(): number {
    return this.held.length;
  }

  /** Arrivals of a messageId beyond its first: what the destination received more than once. */
  get duplicateArrivals(): number {
    const seen = new Set<string>();
    let duplicates = 0;
    for (const { messageId } of this.arrivals) {
      if (messageId === undefined) continue;
      if (seen.has(messageId)) duplicates += 1;
      seen.add(messageId);
    }
    return duplicates;
  }

  /**
   * Repeated arrivals of a messageId under an Idempotency-Key it did not carry before: what even a
   * destination that honours Idempotency-Key would process twice.
   */
  get duplicatesWithNewKey(): number {
    const keys = new Map<string, Set<string | undefined>>();
    let count = 0;
    for (const { messageId, idempotencyKey } of this.arrivals) {
      if (messageId === undefined) continue;
      const seen = keys.get(messageId);
      if (!seen) keys.set(messageId, new Set([idempotencyKey]));
      else if (!seen.has(idempotencyKey)) {
        count += 1;
        seen.add(idempotencyKey);
      }
    }
    return count;
  }

  close(): Promise<void> {
    this.release();
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
        const idempotencyKey = typeof req.headers['idempotency-key'] === 'string' ? req.headers['idempotency-key'] : undefined;
        this.arrivals.push({ messageId: typeof (body as { messageId?: unknown } | undefined)?.messageId === 'string' ? messageId : undefined, idempotencyKey, at: Date.now() });
        const attempt = (this.attempts.get(messageId) ?? 0) + 1;
        this.attempts.set(messageId, attempt);
        const reply = this.responder({ body, path: req.url ?? '/', attempt, index: this.requests.length });
        const status = reply.status ?? 200;
        const send = () => {
          // The client is gone (it was killed while the request was held): nothing is answered.
          if (res.destroyed || req.socket.destroyed) return;
          this.requests.push({ method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body, rawBody, at: Date.now(), status });
          res.writeHead(status, { 'content-type': 'text/plain', ...reply.headers }).end(reply.body ?? (status < 300 ? 'ok' : 'error'));
        };
        const answer = () => (reply.delayMs ? setTimeout(send, reply.delayMs) : send());
        if (this.holding) this.held.push(answer);
        else answer();
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
