/**
 * The HTTP transport against a real server on 127.0.0.1: how each body encoding goes on the wire, and
 * that failure messages (stored in dead letters and shown to operators) never carry the URL's query
 * string or userinfo, where secrets such as GA4's api_secret live.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sendHttp } from '../../activities/deliver/http';
import type { SendOptions } from '../../activities/deliver/transport';
import { parseWorkspace } from '../../config/workspace';
import type { HttpDeliveryRequest } from '../../delivery/requests';

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly contentType: string | undefined;
  readonly authorization?: string;
  readonly body: string;
}

const workspace = parseWorkspace(
  {
    sources: [
      {
        id: 'src',
        writeKey: 'write-key',
        enabled: true,
        destinations: [{ id: 'dest', enabled: true, destinationDefinition: { name: 'WEBHOOK' }, config: { webhookUrl: 'http://127.0.0.1:9/' } }],
      },
    ],
  },
  'httpTransport',
);
const options: SendOptions = { destination: workspace.destination('src', 'dest')!, timeoutMs: 5_000, idempotencyKey: 'key-1' };

let server: http.Server;
let base = '';
const seen: Seen[] = [];
/** Requests to this path get no answer, so the client times out. */
const HANG = '/hang';
/** Requests to this path are answered at once, then the whole process is kept busy for this long. */
const BUSY = '/busy';
const BUSY_MS = 600;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url?.startsWith(HANG)) return;
      seen.push({ method: req.method ?? '', path: req.url ?? '', contentType: req.headers['content-type'], authorization: req.headers.authorization, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200).end('ok');
      // As a worker whose event loop is held up (CPU starved, a long synchronous task) right after the
      // destination answered: the answer waits in the socket while the client's timeout falls due.
      if (req.url?.startsWith(BUSY)) for (const until = Date.now() + BUSY_MS; Date.now() < until; );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  seen.length = 0;
});

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('body encoding', () => {
  it('sends a JSON body by default', async () => {
    const request: HttpDeliveryRequest = { kind: 'http', method: 'POST', url: `${base}/json`, headers: { 'content-type': 'application/json' }, body: { a: [1, 'x'] } };
    expect(await sendHttp(request, options)).toEqual({ kind: 'delivered', status: 200 });
    expect(seen).toEqual([{ method: 'POST', path: '/json', contentType: 'application/json', body: '{"a":[1,"x"]}' }]);
  });

  it('sends a form body as application/x-www-form-urlencoded fields, values URL-encoded', async () => {
    const mapping = JSON.stringify([{ user_id: 'old id&1', global_user_id: 'user=1' }]);
    const request: HttpDeliveryRequest = {
      kind: 'http',
      method: 'POST',
      url: `${base}/usermap`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      encoding: 'form',
      body: { api_key: 'amp-key', mapping },
    };
    expect(await sendHttp(request, options)).toEqual({ kind: 'delivered', status: 200 });
    expect(seen).toHaveLength(1);
    const [received] = seen;
    expect(received!.path).toBe('/usermap');
    expect(received!.contentType).toBe('application/x-www-form-urlencoded');
    expect(received!.body).toBe(`api_key=amp-key&mapping=${encodeURIComponent(mapping).replace(/%20/g, '+')}`);
    expect(Object.fromEntries(new URLSearchParams(received!.body))).toEqual({ api_key: 'amp-key', mapping });
  });

  it('labels a form body as form-encoded even when the request sets no content-type', async () => {
    const request: HttpDeliveryRequest = { kind: 'http', method: 'POST', url: `${base}/form`, headers: {}, encoding: 'form', body: { a: '1' } };
    await sendHttp(request, options);
    expect(seen.map((s) => [s.contentType?.split(';')[0], s.body])).toEqual([['application/x-www-form-urlencoded', 'a=1']]);
  });
});

describe('timeouts', () => {
  it('keeps an answer that came in time even when the process was too busy to read it before the timeout fell due', async () => {
    const outcome = await sendHttp({ kind: 'http', method: 'POST', url: `${base}${BUSY}`, headers: {}, body: '{}' }, { ...options, timeoutMs: 200 });
    expect(outcome).toEqual({ kind: 'delivered', status: 200 });
    expect(seen.map((s) => s.path)).toEqual([BUSY]);
  });
});

describe('failure messages leave secrets out', () => {
  it('describes a refused connection by origin and path only', async () => {
    const port = await closedPort();
    const outcome = await sendHttp(
      { kind: 'http', method: 'POST', url: `http://127.0.0.1:${port}/mp/collect?measurement_id=G-1&api_secret=s3cret#frag`, headers: {} },
      options,
    );
    expect(outcome).toMatchObject({ kind: 'retryable', throttled: false });
    const { error } = outcome as { error: string };
    expect(error).toMatch(new RegExp(`^network error calling http://127\\.0\\.0\\.1:${port}/mp/collect: `));
    expect(error).not.toMatch(/s3cret|api_secret|measurement_id|\?|#/);
  });

  it('describes a timeout by origin and path only', async () => {
    const outcome = await sendHttp(
      { kind: 'http', method: 'POST', url: `${base}${HANG}?api_secret=s3cret`, headers: {} },
      { ...options, timeoutMs: 200 },
    );
    expect(outcome).toEqual({ kind: 'retryable', error: `timed out calling ${base}${HANG}`, throttled: false });
  });

  it('sends a URL’s userinfo as Basic auth, and leaves it out of failure messages', async () => {
    const withUser = (origin: string) => `${origin.replace('http://', 'http://hook-user:pa55word@')}/hook?token=t0ken`;
    expect(await sendHttp({ kind: 'http', method: 'POST', url: withUser(base), headers: {} }, options)).toMatchObject({ kind: 'delivered' });
    expect(seen.map((s) => [s.path, s.authorization])).toEqual([['/hook?token=t0ken', `Basic ${Buffer.from('hook-user:pa55word').toString('base64')}`]]);

    const port = await closedPort();
    const outcome = await sendHttp({ kind: 'http', method: 'POST', url: withUser(`http://127.0.0.1:${port}`), headers: {} }, options);
    expect(outcome).toMatchObject({ kind: 'retryable', throttled: false });
    const { error } = outcome as { error: string };
    expect(error.startsWith(`network error calling http://127.0.0.1:${port}/hook: `)).toBe(true);
    expect(error).not.toMatch(/hook-user|pa55word|t0ken/);
  });
});
