/**
 * The config `npm run cluster` writes for the real Temporal server, read back as the server's YAML
 * loader reads it. The server itself runs in test/integration/cluster.ordering.test.ts.
 */
import { parse } from 'yaml';
import { renderDynamicConfig, renderServerConfig, TEMPORAL_DATABASES } from '../../temporal/cluster';

interface Store {
  sql: { pluginName: string; databaseName: string; connectAddr: string; user: string; password: string };
}
interface ServerConfig {
  persistence: { numHistoryShards: number; defaultStore: string; visibilityStore: string; datastores: Record<string, Store> };
  services: Record<string, { rpc: { grpcPort: number; membershipPort: number; httpPort?: number } }>;
  global: { metrics: { prometheus: { listenAddress: string } } };
  clusterMetadata: { clusterInformation: { active: { rpcAddress: string } } };
  dynamicConfigClient: { filepath: string };
}

const ports = { frontend: 7233, frontendHttp: 7243, metrics: 9090, internal: [16933, 7234, 16934, 7235, 16935, 7239, 16939] };

it.each([
  { id: 'embedded', description: 'the embedded PostgreSQL', url: 'postgresql://ferry:ferry@127.0.0.1:54329/ferry', expected: { addr: '127.0.0.1:54329', user: 'ferry', password: 'ferry' } },
  {
    id: 'external',
    description: "DATABASE_URL's server, with an encoded password and the default port",
    url: 'postgres://ops:p%40ss%3Aw0rd@db.internal/ferry',
    expected: { addr: 'db.internal:5432', user: 'ops', password: 'p@ss:w0rd' },
  },
])('stores Temporal in its own databases on $description, with the shards asked for', ({ url, expected }) => {
  const config = parse(renderServerConfig({ databaseUrl: url, numHistoryShards: 8, ports, dynamicConfigFile: '/data/dc.yaml' })) as ServerConfig;
  const { persistence } = config;
  expect(persistence.numHistoryShards).toBe(8);
  const main = persistence.datastores[persistence.defaultStore]!.sql;
  const visibility = persistence.datastores[persistence.visibilityStore]!.sql;
  expect([main.databaseName, visibility.databaseName]).toEqual([TEMPORAL_DATABASES.main, TEMPORAL_DATABASES.visibility]);
  for (const store of [main, visibility]) {
    expect(store).toMatchObject({ pluginName: 'postgres12', connectAddr: expected.addr, user: expected.user, password: expected.password });
  }
  expect(config.dynamicConfigClient.filepath).toBe('/data/dc.yaml');
});

it('gives every service its own ports, the frontend the one clients use', () => {
  const config = parse(renderServerConfig({ databaseUrl: 'postgresql://a:b@127.0.0.1:5432/x', numHistoryShards: 4, ports, dynamicConfigFile: '/dc.yaml' })) as ServerConfig;
  expect(Object.keys(config.services).sort()).toEqual(['frontend', 'history', 'matching', 'worker']);
  expect(config.services.frontend!.rpc).toEqual({ grpcPort: 7233, membershipPort: 16933, httpPort: 7243, bindOnLocalHost: true });
  const all = Object.values(config.services).flatMap(({ rpc }) => [rpc.grpcPort, rpc.membershipPort, ...(rpc.httpPort ? [rpc.httpPort] : [])]);
  expect(new Set(all).size).toBe(all.length);
  expect(config.clusterMetadata.clusterInformation.active.rpcAddress).toBe('127.0.0.1:7233');
  expect(config.global.metrics.prometheus.listenAddress).toBe('127.0.0.1:9090');
});

it('writes dynamic config in the server’s list-of-values form', () => {
  expect(parse(renderDynamicConfig({ 'system.enableActivityEagerExecution': true, 'frontend.rps': 5000 }))).toEqual({
    'system.enableActivityEagerExecution': [{ value: true }],
    'frontend.rps': [{ value: 5000 }],
  });
});
