/**
 * The SSRF guard: the address classifier as a fixture table, and the HTTP transport against local
 * servers that redirect it to denied addresses. No test connects outside 127.0.0.0/8: where a denial
 * must be seen not to connect, the denied address is a local "trap" server made denied by the test's
 * own deny list, which records any connection; the default list's metadata addresses are only ever
 * redirected to, and refused before connecting.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { AddressPolicy, type AddressPolicyOptions } from '../../activities/deliver/addressPolicy';
import { HttpTransport } from '../../activities/deliver/http';
import type { SendOptions } from '../../activities/deliver/transport';
import { parseEnv, workerEnvSchema } from '../../config/env';
import { parseWorkspace } from '../../config/workspace';
import type { HttpDeliveryRequest } from '../../delivery/requests';

interface ClassifierCase {
  readonly id: string;
  readonly description: string;
  readonly input: { readonly policy?: AddressPolicyOptions; readonly host: string };
  /** `allowed`, or the denial's reason. */
  readonly expected: string;
}

const CLASSIFIER_CASES: ClassifierCase[] = [
  { id: 'loopback-v4', description: 'loopback is allowed by default', input: { host: '127.0.0.1' }, expected: 'allowed' },
  { id: 'loopback-v6', description: 'IPv6 loopback is allowed', input: { host: '::1' }, expected: 'allowed' },
  { id: 'localhost', description: 'localhost by name is allowed', input: { host: 'localhost' }, expected: 'allowed' },
  { id: 'private', description: 'private networks are allowed by default', input: { host: '10.1.2.3' }, expected: 'allowed' },
  { id: 'public', description: 'a public address', input: { host: '93.184.215.14' }, expected: 'allowed' },
  { id: 'aws-metadata', description: 'the metadata address', input: { host: '169.254.169.254' }, expected: 'link-local (cloud metadata)' },
  { id: 'link-local', description: 'any IPv4 link-local address', input: { host: '169.254.1.1' }, expected: 'link-local (cloud metadata)' },
  { id: 'link-local-v6', description: 'IPv6 link-local', input: { host: 'fe80::1' }, expected: 'link-local' },
  { id: 'link-local-v6-bracketed', description: 'as a URL host spells it', input: { host: '[fe80::abcd]' }, expected: 'link-local' },
  { id: 'link-local-v6-zone', description: 'with a zone index', input: { host: 'fe80::1%eth0' }, expected: 'link-local' },
  { id: 'aws-v6', description: "AWS's IPv6 metadata endpoint", input: { host: 'fd00:ec2::254' }, expected: 'cloud metadata (AWS IPv6)' },
  { id: 'aws-v6-long', description: 'the same, written out', input: { host: 'fd00:0ec2:0000:0000:0000:0000:0000:0254' }, expected: 'cloud metadata (AWS IPv6)' },
  { id: 'mapped', description: 'IPv4-mapped IPv6 of the metadata address', input: { host: '::ffff:169.254.169.254' }, expected: 'link-local (cloud metadata)' },
  { id: 'mapped-hex', description: 'the same in hex, as URL parsing writes it', input: { host: new URL('http://[::ffff:169.254.169.254]/').hostname }, expected: 'link-local (cloud metadata)' },
  { id: 'alibaba', description: "Alibaba's metadata address", input: { host: '100.100.100.200' }, expected: 'cloud metadata (Alibaba)' },
  { id: 'unspecified', description: '0.0.0.0 reaches the host itself', input: { host: '0.0.0.0' }, expected: 'unspecified address' },
  { id: 'gcp-name', description: "GCP's metadata name", input: { host: 'metadata.google.internal' }, expected: 'cloud metadata (GCP)' },
  { id: 'gcp-name-case', description: 'in any case, with the root dot', input: { host: 'Metadata.Google.Internal.' }, expected: 'cloud metadata (GCP)' },
  { id: 'name-lookalike', description: 'a name that only contains a metadata name', input: { host: 'metadata.google.internal.example.com' }, expected: 'allowed' },
  { id: 'deny-cidr', description: 'a configured deny block', input: { policy: { deny: ['10.0.0.0/8'] }, host: '10.200.0.1' }, expected: 'on FERRY_DESTINATION_DENY' },
  { id: 'deny-mapped', description: 'a configured IPv4 block covers its mapped IPv6 form', input: { policy: { deny: ['10.0.0.0/8'] }, host: '::ffff:10.0.0.1' }, expected: 'on FERRY_DESTINATION_DENY' },
  { id: 'deny-name', description: 'a configured name', input: { policy: { deny: ['hooks.internal'] }, host: 'HOOKS.internal' }, expected: 'on FERRY_DESTINATION_DENY' },
  { id: 'deny-wildcard', description: 'a wildcard covers subdomains', input: { policy: { deny: ['*.corp.example'] }, host: 'a.b.corp.example' }, expected: 'on FERRY_DESTINATION_DENY' },
  { id: 'deny-wildcard-apex', description: 'but not the name itself', input: { policy: { deny: ['*.corp.example'] }, host: 'corp.example' }, expected: 'allowed' },
  { id: 'deny-loopback', description: 'loopback can be denied', input: { policy: { deny: ['127.0.0.0/8'] }, host: '127.0.0.9' }, expected: 'on FERRY_DESTINATION_DENY' },
  { id: 'allow-over-default', description: 'an allow entry wins over the default', input: { policy: { allow: ['169.254.10.0/24'] }, host: '169.254.10.5' }, expected: 'allowed' },
  { id: 'allow-narrow', description: 'only what it covers', input: { policy: { allow: ['169.254.10.0/24'] }, host: '169.254.169.254' }, expected: 'link-local (cloud metadata)' },
  { id: 'no-defaults', description: 'the default list can be turned off', input: { policy: { defaultDeny: false }, host: '169.254.169.254' }, expected: 'allowed' },
];

describe('address classifier', () => {
  test.each(CLASSIFIER_CASES)('$id: $description', ({ input, expected }) => {
    const verdict = new AddressPolicy(input.policy).checkHost(input.host);
    expect(verdict.allowed ? 'allowed' : verdict.reason).toBe(expected);
  });

  it('refuses entries that are not addresses, blocks or names', () => {
    expect(() => new AddressPolicy({ deny: ['10.0.0.0/33'] })).toThrow(/not an IP address/);
    expect(() => new AddressPolicy({ allow: ['http://x'] })).toThrow(/not an IP address/);
  });

  it('reads the lists from the worker env, checking each entry', () => {
    const env = parseEnv(workerEnvSchema, { DATABASE_URL: 'postgresql://u:p@127.0.0.1:5432/ferry', FERRY_DESTINATION_DENY: '10.0.0.0/8, *.corp.example', FERRY_DESTINATION_ALLOW: '169.254.10.1' });
    expect([env.FERRY_DESTINATION_DENY, env.FERRY_DESTINATION_ALLOW]).toEqual([['10.0.0.0/8', '*.corp.example'], ['169.254.10.1']]);
    expect(() => parseEnv(workerEnvSchema, { DATABASE_URL: 'postgresql://u:p@127.0.0.1:5432/ferry', FERRY_DESTINATION_DENY: '10.0.0.0/8,not a host' })).toThrow(
      /FERRY_DESTINATION_DENY.*"not a host" is not an IP address/s,
    );
  });
});

// ---- the transport ---------------------------------------------------------------------------------

const workspace = parseWorkspace(
  { sources: [{ id: 'src', writeKey: 'wk', enabled: true, destinations: [{ id: 'hook', enabled: true, destinationDefinition: { name: 'WEBHOOK' }, config: { webhookUrl: 'http://127.0.0.1:9/' } }] }] },
  'ssrf',
);
const options: SendOptions = { destination: workspace.destination('src', 'hook')!, timeoutMs: 3_000, idempotencyKey: 'k' };

interface Local {
  readonly server: http.Server;
  readonly url: string;
  readonly connections: Socket[];
}

/** A server on a loopback address that answers 200, or redirects to `?to=`. */
async function localServer(host: string): Promise<Local> {
  const connections: Socket[] = [];
  const server = http.createServer((req, res) => {
    const to = new URL(req.url ?? '/', 'http://x').searchParams.get('to');
    if (to) res.writeHead(302, { location: to }).end();
    else res.writeHead(200).end('ok');
  });
  server.on('connection', (socket: Socket) => connections.push(socket));
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, connections };
}

const post = (url: string): HttpDeliveryRequest => ({ kind: 'http', method: 'POST', url, headers: { 'content-type': 'application/json' }, body: { n: 1 } });

describe('HTTP transport behind the address policy', () => {
  /** Where the transport is sent first: allowed. */
  let redirector: Local;
  /** A local server the test's deny list covers: it must never see a connection. */
  let trap: Local;
  const servers: Local[] = [];

  beforeAll(async () => {
    redirector = await localServer('127.0.0.3');
    trap = await localServer('127.0.0.1');
    servers.push(redirector, trap);
  });
  afterAll(async () => {
    for (const { server } of servers) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  /** 127.0.0.1 and ::1 denied (so `localhost` resolves only to denied addresses), 127.0.0.3 allowed. */
  const trapPolicy = new AddressPolicy({ deny: ['127.0.0.1/32', '::1/128'] });

  const TRAPPED = [
    { id: 'literal', description: 'a denied address in the URL', input: () => `${trap.url}/direct`, expected: 'not sent: 127.0.0.1 is a denied destination address: on FERRY_DESTINATION_DENY' },
    { id: 'dns', description: 'a name that resolves to a denied address', input: () => `${trap.url.replace('127.0.0.1', 'localhost')}/by-name`, expected: 'not sent: localhost (' },
    { id: 'redirect', description: 'a redirect to a denied address', input: () => `${redirector.url}/go?to=${encodeURIComponent(`${trap.url}/landed`)}`, expected: 'not sent: 127.0.0.1 is a denied destination address' },
    {
      id: 'redirect-dns',
      description: 'a redirect to a name that resolves to a denied address',
      input: () => `${redirector.url}/go?to=${encodeURIComponent(`${trap.url.replace('127.0.0.1', 'localhost')}/landed`)}`,
      expected: 'not sent: localhost (',
    },
    {
      id: 'redirect-chain',
      description: 'the third hop of a chain of redirects',
      input: () => `${redirector.url}/a?to=${encodeURIComponent(`${redirector.url}/b?to=${encodeURIComponent(`${trap.url}/landed`)}`)}`,
      expected: 'not sent: 127.0.0.1 is a denied destination address',
    },
  ];

  test.each(TRAPPED)('refuses $description before connecting, for good', async ({ input, expected }) => {
    const transport = new HttpTransport({ addressPolicy: trapPolicy });
    try {
      const before = trap.connections.length;
      const outcome = await transport.send(post(input()), options);
      expect(outcome.kind).toBe('rejected');
      expect(outcome.kind === 'rejected' && outcome.body).toContain(expected);
      expect(trap.connections.length).toBe(before);
    } finally {
      transport.close();
    }
  });

  it('delivers to loopback under the default policy, redirects included', async () => {
    const transport = new HttpTransport();
    try {
      expect(await transport.send(post(`${trap.url}/direct`), options)).toEqual({ kind: 'delivered', status: 200 });
      expect(await transport.send(post(`${redirector.url}/go?to=${encodeURIComponent(`http://localhost:${new URL(trap.url).port}/x`)}`), options)).toEqual({ kind: 'delivered', status: 200 });
    } finally {
      transport.close();
    }
  });

  const METADATA = [
    { id: 'aws', description: 'the metadata address', input: 'http://169.254.169.254/latest/meta-data/iam/', expected: 'link-local (cloud metadata)' },
    { id: 'gcp', description: "GCP's metadata name", input: 'http://metadata.google.internal/computeMetadata/v1/', expected: 'cloud metadata (GCP)' },
    { id: 'aws-v6', description: "AWS's IPv6 metadata address", input: 'http://[fd00:ec2::254]/latest/meta-data/', expected: 'cloud metadata (AWS IPv6)' },
    { id: 'mapped', description: 'the metadata address as IPv4-mapped IPv6', input: 'http://[::ffff:169.254.169.254]/', expected: 'link-local (cloud metadata)' },
    { id: 'scheme', description: 'a non-HTTP scheme', input: 'file:///etc/passwd', expected: 'not sent: file: URLs are not HTTP' },
  ];

  test.each(METADATA)('refuses a redirect to $description under the default policy', async ({ input, expected }) => {
    const transport = new HttpTransport();
    try {
      const outcome = await transport.send(post(`${redirector.url}/go?to=${encodeURIComponent(input)}`), options);
      expect(outcome.kind).toBe('rejected');
      expect(outcome.kind === 'rejected' && outcome.body).toContain(expected);
    } finally {
      transport.close();
    }
  });
});
