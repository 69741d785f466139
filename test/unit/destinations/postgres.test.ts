import { postgres } from '../../../destinations/postgres';
import { parseWorkspace } from '../../../config/workspace';
import { ConfigError } from '../../../config/errors';
import { BASE_CONFIG, DESTINATION_ID, postgresFixtures } from './fixtures/postgres';

describe('POSTGRES transform', () => {
  test.each(postgresFixtures)('$id: $description', ({ input, expected }) => {
    const config = postgres.configSchema.parse({ ...BASE_CONFIG, ...input.config });
    const run = () => postgres.transform(input.event, config, { destinationId: DESTINATION_ID });
    if ('error' in expected) {
      expect(run).toThrow(expected.error);
      return;
    }
    expect(run()).toEqual([{ kind: 'warehouse', warehouse: 'POSTGRES', destinationId: DESTINATION_ID, namespace: 'mobile_app', rows: expected.rows }]);
  });
});

describe('POSTGRES config', () => {
  const workspace = (config: Record<string, unknown>) => ({
    sources: [{ id: 'src', writeKey: 'wk', enabled: true, destinations: [{ id: 'pg', enabled: true, destinationDefinition: { name: 'POSTGRES' }, config }] }],
  });

  it('accepts RudderStack’s keys, with the port as a string, and names the namespace like RudderStack', () => {
    const parsed = parseWorkspace(workspace({ ...BASE_CONFIG, port: '6543', password: 's3cret', sslMode: 'require', namespace: 'My Source' }), 'test');
    expect(parsed.destination('src', 'pg')?.config).toMatchObject({ port: 6543, sslMode: 'require', namespace: 'my_source', skipUsersTable: false });
  });

  it('accepts a connectionString instead of the separate fields', () => {
    const parsed = parseWorkspace(workspace({ connectionString: 'postgres://loader:pw@127.0.0.1:5432/analytics', namespace: 'events' }), 'test');
    expect(parsed.destination('src', 'pg')?.config).toMatchObject({ connectionString: 'postgres://loader:pw@127.0.0.1:5432/analytics', namespace: 'events' });
  });

  it('rejects a bad config at load, naming each bad field', () => {
    const bad = workspace({ host: '127.0.0.1', port: 'abc', sslMode: 'sometimes', namespace: 'pg_catalog', extra: true });
    expect(() => parseWorkspace(bad, 'workspace.json')).toThrow(ConfigError);
    let message = '';
    try {
      parseWorkspace(bad, 'workspace.json');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('sources[0].destinations[0].config.port: port must be a number');
    expect(message).toContain('sources[0].destinations[0].config.sslMode: sslMode must be one of disable, require, verify-ca, verify-full');
    expect(message).toContain('sources[0].destinations[0].config.namespace: namespace must not start with pg_');
    expect(message).toMatch(/sources\[0\]\.destinations\[0\]\.config: Unrecognized key: "extra"/);
  });

  it('rejects missing connection fields, and mixing them with a connectionString', () => {
    expect(() => parseWorkspace(workspace({ host: '127.0.0.1', namespace: 'events' }), 'test')).toThrow(/config\.database: database is required/);
    expect(() => parseWorkspace(workspace({ connectionString: 'postgres://h/db', host: 'other', namespace: 'events' }), 'test')).toThrow(
      /config\.host: host cannot be combined with connectionString/,
    );
    expect(() => parseWorkspace(workspace({ connectionString: 'mysql://h/db', namespace: 'events' }), 'test')).toThrow(/connectionString must be a postgres/);
  });
});
