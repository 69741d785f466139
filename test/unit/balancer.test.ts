/**
 * The balancer in front of the gateways (`npm run cluster`, docker-compose), against real HTTP servers
 * on 127.0.0.1 standing in for gateways.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Balancer, startBalancer } from '../../processes/balancer';
import { freePort } from '../../processes/ports';

interface Upstream {
  readonly url: string;
  readonly seen: Array<{ method: string; path: string; body: string; auth?: string; forwardedFor?: string }>;
  close(): Promise<void>;
}

function upstream(name: string): Promise<Upstream> {
  const seen: Upstream['seen'] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method!, path: req.url!, body: Buffer.concat(chunks).toString(), auth: req.headers.authorization, forwardedFor: req.headers['x-forwarded-for'] as string });
      res.writeHead(201, { 'x-upstream': name, 'content-type': 'text/plain' }).end(`from ${name}`);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        seen,
        close: () => {
          server.closeAllConnections();
          return new Promise<void>((r) => server.close(() => r()));
        },
      }),
    ),
  );
}

async function send(balancer: Balancer, body = '{"n":1}'): Promise<{ status: number; text: string; upstream: string | null }> {
  const res = await fetch(`${balancer.url}/v1/track?x=1`, { method: 'POST', headers: { authorization: 'Basic a2V5Og==', 'content-type': 'application/json' }, body });
  return { status: res.status, text: await res.text(), upstream: res.headers.get('x-upstream') };
}

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

async function setup(upstreamUrls: string[], ejectMs = 60_000): Promise<Balancer> {
  const balancer = await startBalancer({ upstreams: upstreamUrls, port: 0, ejectMs, maxBodyBytes: 1_000 });
  cleanup.push(balancer.close);
  return balancer;
}

it('sends each request to the next gateway in turn, passing method, path, body, headers and the answer through', async () => {
  const [a, b] = await Promise.all([upstream('a'), upstream('b')]);
  cleanup.push(a!.close, b!.close);
  const balancer = await setup([a!.url, b!.url]);
  const answers = [];
  for (let n = 1; n <= 4; n++) answers.push(await send(balancer, `{"n":${n}}`));
  expect(answers.map((r) => r.upstream)).toEqual(['a', 'b', 'a', 'b']);
  expect(answers.map((r) => [r.status, r.text])).toEqual([
    [201, 'from a'],
    [201, 'from b'],
    [201, 'from a'],
    [201, 'from b'],
  ]);
  expect(a!.seen.map((r) => r.body)).toEqual(['{"n":1}', '{"n":3}']);
  expect(a!.seen[0]).toMatchObject({ method: 'POST', path: '/v1/track?x=1', auth: 'Basic a2V5Og==', forwardedFor: '127.0.0.1' });
  expect(balancer.counts()).toEqual({ [a!.url]: 2, [b!.url]: 2 });
});

it('sends a request refused by a dead gateway to the next one, and leaves the dead one out after', async () => {
  const live = await upstream('live');
  cleanup.push(live.close);
  const dead = `http://127.0.0.1:${await freePort()}`;
  const balancer = await setup([dead, live.url]);
  const answers = [];
  for (let n = 1; n <= 4; n++) answers.push(await send(balancer));
  expect(answers.map((r) => [r.status, r.upstream])).toEqual(Array.from({ length: 4 }, () => [201, 'live']));
  // Each request reached the live gateway once: none was sent twice.
  expect(live.seen).toHaveLength(4);
});

it('takes a gateway back once its time out is over', async () => {
  const port = await freePort();
  const other = await upstream('other');
  cleanup.push(other.close);
  const balancer = await setup([`http://127.0.0.1:${port}`, other.url], 200);
  expect((await send(balancer)).upstream).toBe('other');
  // The gateway comes (back) up on its port.
  const back = http.createServer((_req, res) => res.writeHead(200, { 'x-upstream': 'back' }).end());
  await new Promise<void>((r) => back.listen(port, '127.0.0.1', () => r()));
  cleanup.push(() => new Promise<void>((r) => back.close(() => r())));
  await new Promise((r) => setTimeout(r, 300));
  const seen = new Set<string | null>();
  for (let n = 0; n < 4; n++) seen.add((await send(balancer)).upstream);
  expect([...seen].sort()).toEqual(['back', 'other']);
});

it.each([
  { id: 'all-down', description: 'answers 503 with Retry-After when no gateway accepts connections', body: '{}', expected: 503 },
  { id: 'too-large', description: 'refuses a body over its limit with 413 without passing it on', body: 'x'.repeat(5_000), expected: 413 },
])('$description', async ({ body, expected }) => {
  const dead = [`http://127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`];
  const balancer = await setup(dead);
  const answer = await send(balancer, body).catch(() => ({ status: 0, text: '', upstream: null }));
  expect(answer.status).toBe(expected);
});
