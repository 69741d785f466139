/**
 * A small HTTP load balancer for several gateways, for `npm run cluster` and docker-compose: each
 * request goes to the next gateway in turn (so one client's requests are spread over all of them, the
 * case Ferry's per-user order must survive), and a gateway that refuses connections is skipped for a
 * while. It does what an HAProxy `balance roundrobin` with `retry-on conn-failure` would, without a
 * package to install.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';

export const balancerEnvSchema = z.object({
  /** Comma-separated gateway URLs, e.g. `http://gateway-1:8080,http://gateway-2:8080`. */
  FERRY_BALANCER_UPSTREAMS: z
    .string()
    .min(1)
    .transform((value) => value.split(',').map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(z.url({ protocol: /^http$/ })).min(1)),
  /** @default 8080 */
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** @default 0.0.0.0 */
  HOST: z.string().min(1).default('0.0.0.0'),
  /** How long a gateway that refused a connection is left out. @default 2000 */
  FERRY_BALANCER_EJECT_MS: z.coerce.number().int().positive().default(2_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface BalancerOptions {
  /** Base URLs of the gateways, e.g. `http://127.0.0.1:8081`. */
  readonly upstreams: readonly string[];
  /** 0 picks a free port. */
  readonly port: number;
  /** @default 127.0.0.1 */
  readonly host?: string;
  /** @default 2000 */
  readonly ejectMs?: number;
  /**
   * Largest request body passed on. The body is held in memory so that a request refused by one
   * gateway can go to the next; the gateway applies its own, lower, limit. @default 16 MB
   */
  readonly maxBodyBytes?: number;
  /** Told when a gateway is left out or taken back. */
  readonly onUpstreamChange?: (upstream: string, state: 'ejected' | 'restored', reason?: string) => void;
}

export interface Balancer {
  readonly url: string;
  readonly port: number;
  /** Requests answered by each upstream so far. */
  counts(): Record<string, number>;
  close(): Promise<void>;
}

/** Headers that describe one connection, not the request: never forwarded (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

interface Upstream {
  readonly url: URL;
  readonly name: string;
  readonly agent: http.Agent;
  ejectedUntil: number;
  answered: number;
}

export function startBalancer(options: BalancerOptions): Promise<Balancer> {
  const ejectMs = options.ejectMs ?? 2_000;
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024 * 1024;
  const upstreams: Upstream[] = options.upstreams.map((u) => ({
    url: new URL(u),
    name: u,
    // Keep-alive to each gateway: a new TCP connection per request would cost more than the proxying.
    agent: new http.Agent({ keepAlive: true, maxSockets: 256 }),
    ejectedUntil: 0,
    answered: 0,
  }));
  let next = 0;

  /** The next upstream in turn that is not left out, skipping `tried`; when all are out, any untried one. */
  const pick = (tried: ReadonlySet<Upstream>): Upstream | undefined => {
    const now = Date.now();
    for (const healthyOnly of [true, false]) {
      for (let i = 0; i < upstreams.length; i++) {
        const candidate = upstreams[(next + i) % upstreams.length]!;
        if (tried.has(candidate) || (healthyOnly && candidate.ejectedUntil > now)) continue;
        next = (next + i + 1) % upstreams.length;
        return candidate;
      }
    }
    return undefined;
  };

  const eject = (upstream: Upstream, reason: string) => {
    if (upstream.ejectedUntil <= Date.now()) options.onUpstreamChange?.(upstream.name, 'ejected', reason);
    upstream.ejectedUntil = Date.now() + ejectMs;
  };

  const forward = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, tried: Set<Upstream>) => {
    const upstream = pick(tried);
    if (!upstream) {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end('{"error":"no gateway is reachable"}');
      return;
    }
    tried.add(upstream);
    const headers: http.OutgoingHttpHeaders = {};
    for (const [key, value] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(key) && value !== undefined) headers[key] = value;
    headers['content-length'] = String(body.length);
    headers['x-forwarded-for'] = [req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ');
    const outgoing = http.request(
      { protocol: upstream.url.protocol, hostname: upstream.url.hostname, port: upstream.url.port, method: req.method, path: req.url, headers, agent: upstream.agent },
      (answer) => {
        if (upstream.ejectedUntil > 0) {
          upstream.ejectedUntil = 0;
          options.onUpstreamChange?.(upstream.name, 'restored');
        }
        upstream.answered += 1;
        const out: http.OutgoingHttpHeaders = {};
        for (const [key, value] of Object.entries(answer.headers)) if (!HOP_BY_HOP.has(key) && value !== undefined) out[key] = value;
        res.writeHead(answer.statusCode ?? 502, out);
        answer.pipe(res);
        answer.once('error', () => res.destroy());
      },
    );
    outgoing.once('error', (err: NodeJS.ErrnoException) => {
      // Refused: the request never reached that gateway, so another may take it. Anything later (a
      // reset mid-request) may have been committed there: the client decides, as it must for any
      // lost answer, and its retry carries the same messageId.
      if (err.code === 'ECONNREFUSED' || err.code === 'EHOSTUNREACH') {
        eject(upstream, err.code);
        forward(req, res, body, tried);
        return;
      }
      eject(upstream, err.code ?? err.message);
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' }).end('{"error":"the gateway did not answer"}');
      else res.destroy();
    });
    outgoing.end(body);
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBodyBytes) chunks.push(chunk);
      // The rest is read and dropped rather than cut off, so the client gets to read the answer.
      else if (!res.headersSent) res.writeHead(413, { 'content-type': 'application/json', connection: 'close' }).end('{"error":"request body too large"}');
    });
    req.on('end', () => {
      if (!res.headersSent) forward(req, res, Buffer.concat(chunks), new Set());
    });
    req.on('error', () => res.destroy());
  });
  server.keepAliveTimeout = 65_000;

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        port,
        url: `http://${options.host && options.host !== '0.0.0.0' ? options.host : '127.0.0.1'}:${port}`,
        counts: () => Object.fromEntries(upstreams.map((u) => [u.name, u.answered])),
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            for (const u of upstreams) u.agent.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
