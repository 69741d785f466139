/**
 * The POSTGRES warehouse destination end to end: gateway POSTs through the real worker into the
 * suite's PostgreSQL, each scenario in a schema of its own.
 */
import net from 'node:net';
import { Pool } from 'pg';
import { postgres } from '../../destinations/postgres';
import type { PostgresConfig } from '../../destinations/postgres/config';
import { PostgresConnections } from '../../activities/deliver/warehouse/connections';
import type { DeliveryRequest, WarehouseDeliveryRequest } from '../../delivery/requests';
import { parseWorkspace } from '../../config/workspace';
import { TestPipeline, testInfra, uniqueId } from '../support/pipeline';
import { freePort } from '../../processes/ports';

const RETRY = { initialBackoffMs: 200, maxBackoffMs: 500 };

/** Schema names that are already safe, so the test knows them without the code under test. */
let schemas = 0;
const schemaName = () => `ferry_it_${process.pid}_${Date.now().toString(36)}_${++schemas}`;

interface Scenario {
  readonly sourceId: string;
  readonly writeKey: string;
  readonly destinationId: string;
  readonly namespace: string;
}

function scenario(): Scenario {
  return { sourceId: uniqueId('src'), writeKey: uniqueId('wk'), destinationId: uniqueId('pg'), namespace: schemaName() };
}

/** The suite's database as RudderStack's separate connection fields. */
function connectionFields(port?: number): Record<string, string> {
  const url = new URL(testInfra().databaseUrl);
  return {
    host: url.hostname,
    port: String(port ?? (url.port || 5432)),
    database: url.pathname.slice(1),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  };
}

function source(s: Scenario, config: Record<string, unknown>): unknown {
  return {
    id: s.sourceId,
    writeKey: s.writeKey,
    enabled: true,
    destinations: [{ id: s.destinationId, enabled: true, destinationDefinition: { name: 'POSTGRES' }, config: { namespace: s.namespace, ...config }, retry: RETRY }],
  };
}

/** Polls until `probe` returns a value; a table or schema that does not exist yet counts as "not yet". */
async function eventually<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== '42P01' && code !== '3F000') throw err;
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('POSTGRES warehouse destination', () => {
  const loaded = scenario();
  const evolving = scenario();
  const conflicting = scenario();
  const redelivered = scenario();
  const identified = scenario();
  const unreachable = scenario();
  const terminated = scenario();
  const direct = scenario();
  let closedPort: number;
  let pipeline: TestPipeline;
  let db: Pool;

  const rows = (sql: string, params: unknown[] = []) => db.query(sql, params).then((r) => r.rows as Array<Record<string, unknown>>);
  const rowsOnce = async (sql: string, params: unknown[], count = 1) => {
    const found = await rows(sql, params);
    return found.length >= count ? found : undefined;
  };
  const columnTypes = async (namespace: string, table: string) =>
    Object.fromEntries(
      (await rows('SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2', [namespace, table])).map((r) => [
        r.column_name,
        r.data_type,
      ]),
    );
  const post = async (s: Scenario, path: string, body: unknown) => {
    const res = await pipeline.post(path, body, s.writeKey);
    expect(res.status).toBe(200);
  };

  beforeAll(async () => {
    db = new Pool({ connectionString: testInfra().databaseUrl, max: 3 });
    closedPort = await freePort();
    const url = new URL(testInfra().databaseUrl);
    url.searchParams.delete('sslmode');
    pipeline = await TestPipeline.start({
      workspace: {
        sources: [
          source(loaded, connectionFields()),
          source(evolving, { connectionString: url.toString() }),
          source(conflicting, connectionFields()),
          source(redelivered, connectionFields()),
          source(identified, connectionFields()),
          source(unreachable, connectionFields(closedPort)),
          source(terminated, connectionFields()),
        ],
      },
      // Short enough that the gateway's second copy of a messageId reaches the warehouse, which must
      // then be the one to keep a single row.
      settings: { dedupWindowMs: 1 },
    });
  });

  afterAll(async () => {
    await pipeline?.close();
    for (const s of [loaded, evolving, conflicting, redelivered, identified, unreachable, terminated, direct]) {
      await db?.query(`DROP SCHEMA IF EXISTS "${s.namespace}" CASCADE`);
    }
    await db?.end();
  });

  it('loads every message type into its RudderStack tables through the whole pipeline', async () => {
    const user = 'ada';
    const context = { library: { name: 'ferry-test', version: '1.0.0' }, app: { build: '42' }, userAgent: 'jest' };
    await post(loaded, '/v1/batch', {
      batch: [
        { type: 'identify', messageId: 'm-identify', userId: user, traits: { email: 'ada@example.com', address: { city: 'London' } }, context },
        { type: 'track', messageId: 'm-track', userId: user, event: 'Product Viewed', properties: { price: 9.99, quantity: 2, product: { sku: 'P-1' }, order: 'first' }, context },
        { type: 'page', messageId: 'm-page', userId: user, name: 'Pricing', properties: { path: '/pricing' }, context },
        { type: 'screen', messageId: 'm-screen', userId: user, name: 'Settings', properties: { tab: 'privacy' }, context },
        { type: 'group', messageId: 'm-group', userId: user, groupId: 'acme', traits: { employees: 120 }, context },
        { type: 'alias', messageId: 'm-alias', userId: user, previousId: 'anon-9', context },
      ],
    });
    const ns = loaded.namespace;
    // One lane per user delivers in order, so the last event's row means all are in.
    await eventually(() => rowsOnce(`SELECT * FROM "${ns}".aliases`, []), 'the alias row');

    const [track] = await rows(`SELECT * FROM "${ns}".tracks`);
    expect(track).toMatchObject({ id: 'm-track', user_id: user, event: 'product_viewed', event_text: 'Product Viewed', context_library_name: 'ferry-test', context_app_build: '42', context_user_agent: 'jest' });
    expect(track!.received_at).toBeInstanceOf(Date);
    expect(track!.uuid_ts).toBeInstanceOf(Date);
    expect(track).not.toHaveProperty('price');

    const [viewed] = await rows(`SELECT * FROM "${ns}".product_viewed`);
    expect(viewed).toMatchObject({ id: 'm-track', event: 'product_viewed', price: '9.99', quantity: '2', product_sku: 'P-1', _order: 'first', context_library_name: 'ferry-test' });
    expect(await columnTypes(ns, 'product_viewed')).toMatchObject({
      id: 'text',
      price: 'numeric',
      quantity: 'bigint',
      product_sku: 'text',
      received_at: 'timestamp with time zone',
      uuid_ts: 'timestamp with time zone',
    });

    expect(await rows(`SELECT id, user_id, email, address_city FROM "${ns}".identifies`)).toEqual([{ id: 'm-identify', user_id: user, email: 'ada@example.com', address_city: 'London' }]);
    expect(await rows(`SELECT id, email, address_city FROM "${ns}".users`)).toEqual([{ id: user, email: 'ada@example.com', address_city: 'London' }]);
    expect(await columnTypes(ns, 'users')).not.toHaveProperty('anonymous_id');
    expect(await rows(`SELECT id, name, path FROM "${ns}".pages`)).toEqual([{ id: 'm-page', name: 'Pricing', path: '/pricing' }]);
    expect(await rows(`SELECT id, name, tab FROM "${ns}".screens`)).toEqual([{ id: 'm-screen', name: 'Settings', tab: 'privacy' }]);
    expect(await rows(`SELECT id, group_id, employees FROM "${ns}".groups`)).toEqual([{ id: 'm-group', group_id: 'acme', employees: '120' }]);
    expect(await rows(`SELECT id, user_id, previous_id FROM "${ns}".aliases`)).toEqual([{ id: 'm-alias', user_id: user, previous_id: 'anon-9' }]);
  });

  it('adds a column when a property appears, leaving earlier rows null there', async () => {
    const ns = evolving.namespace;
    await post(evolving, '/v1/track', { userId: 'bo', messageId: 'e-1', event: 'Plan Chosen', properties: { plan: 'pro' } });
    await eventually(() => rowsOnce(`SELECT id FROM "${ns}".plan_chosen`, []), 'the first row');
    expect(await columnTypes(ns, 'plan_chosen')).not.toHaveProperty('seats');

    await post(evolving, '/v1/track', { userId: 'bo', messageId: 'e-2', event: 'Plan Chosen', properties: { plan: 'team', seats: 3, billing: { yearly: true } } });
    await eventually(() => rowsOnce(`SELECT id FROM "${ns}".plan_chosen`, [], 2), 'the second row');

    expect(await columnTypes(ns, 'plan_chosen')).toMatchObject({ plan: 'text', seats: 'bigint', billing_yearly: 'boolean' });
    expect(await rows(`SELECT id, plan, seats, billing_yearly FROM "${ns}".plan_chosen ORDER BY id`)).toEqual([
      { id: 'e-1', plan: 'pro', seats: null, billing_yearly: null },
      { id: 'e-2', plan: 'team', seats: '3', billing_yearly: true },
    ]);
  });

  it('keeps a column’s type when a value does not fit: the row loads with NULL there and the value goes to rudder_discards', async () => {
    const ns = conflicting.namespace;
    await post(conflicting, '/v1/track', {
      userId: 'cy',
      messageId: 'c-1',
      event: 'Add to Cart',
      properties: { price: 5, product_id: 'P12345', added_at: '2020-05-19 14:39:22', gift: false },
    });
    await eventually(() => rowsOnce(`SELECT id FROM "${ns}".add_to_cart`, []), 'the first row');
    await post(conflicting, '/v1/track', {
      userId: 'cy',
      messageId: 'c-2',
      event: 'Add to Cart',
      properties: { price: 'NA', product_id: 789, added_at: '05/25/2020', gift: 'yes' },
    });
    await eventually(() => rowsOnce(`SELECT id FROM "${ns}".add_to_cart`, [], 2), 'the second row');

    expect(await columnTypes(ns, 'add_to_cart')).toMatchObject({ price: 'bigint', product_id: 'text', added_at: 'timestamp with time zone', gift: 'boolean' });
    expect(await rows(`SELECT id, price, product_id, added_at IS NULL AS no_added_at, gift FROM "${ns}".add_to_cart ORDER BY id`)).toEqual([
      { id: 'c-1', price: '5', product_id: 'P12345', no_added_at: false, gift: false },
      // The int 789 fits a text column as "789"; the others cannot be cast.
      { id: 'c-2', price: null, product_id: '789', no_added_at: true, gift: null },
    ]);
    expect(await rows(`SELECT row_id, table_name, column_name, column_value, reason FROM "${ns}".rudder_discards ORDER BY column_name`)).toEqual([
      { row_id: 'c-2', table_name: 'add_to_cart', column_name: 'added_at', column_value: '05/25/2020', reason: 'incompatible schema conversion from datetime to string' },
      { row_id: 'c-2', table_name: 'add_to_cart', column_name: 'gift', column_value: 'yes', reason: 'incompatible schema conversion from boolean to string' },
      { row_id: 'c-2', table_name: 'add_to_cart', column_name: 'price', column_value: 'NA', reason: 'incompatible schema conversion from int to string' },
    ]);
    const [lane] = await pipeline.lanes(pipeline.workflowId(conflicting.sourceId, 'cy'));
    expect(lane).toMatchObject({ delivered: 2, aborted: 0, depth: 0 });
    expect(await pipeline.deadLetters(conflicting.destinationId)).toEqual([]);
  });

  it('leaves one row when the same messageId is delivered twice', async () => {
    const ns = redelivered.namespace;
    await post(redelivered, '/v1/track', { userId: 'di', messageId: 'dup-1', event: 'Checkout', properties: { attempt: 1 } });
    await eventually(() => rowsOnce(`SELECT id FROM "${ns}".checkout`, []), 'the first copy');
    await post(redelivered, '/v1/track', { userId: 'di', messageId: 'dup-1', event: 'Checkout', properties: { attempt: 2 } });
    await post(redelivered, '/v1/track', { userId: 'di', messageId: 'after-dup', event: 'Checkout', properties: { attempt: 3 } });
    // In-order lane: once the next event is in, the second copy has been loaded (or skipped).
    await eventually(() => rowsOnce(`SELECT id FROM "${ns}".checkout WHERE id = 'after-dup'`, []), 'the event after the copy');

    expect(await rows(`SELECT id, attempt FROM "${ns}".checkout ORDER BY id`)).toEqual([
      { id: 'after-dup', attempt: '3' },
      { id: 'dup-1', attempt: '1' },
    ]);
    expect(await rows(`SELECT id FROM "${ns}".tracks ORDER BY id`)).toEqual([{ id: 'after-dup' }, { id: 'dup-1' }]);
    // The workflow passed all three on (its dedup window is 1 ms): the warehouse kept the first copy.
    const [lane] = await pipeline.lanes(pipeline.workflowId(redelivered.sourceId, 'di'));
    expect(lane).toMatchObject({ delivered: 3, aborted: 0 });
  });

  it('keeps the latest traits per user in users, column by column', async () => {
    const ns = identified.namespace;
    await post(identified, '/v1/identify', { userId: 'eve', messageId: 'i-1', traits: { name: 'Eve', plan: 'free', city: 'Paris' } });
    await post(identified, '/v1/identify', { userId: 'eve', messageId: 'i-2', traits: { plan: 'pro', seats: 5 } });
    // seats cannot take a string: discarded, so the users row keeps the last value that fitted.
    await post(identified, '/v1/identify', { userId: 'eve', messageId: 'i-3', traits: { city: 'Berlin', seats: 'lots' } });
    await eventually(() => rowsOnce(`SELECT id FROM "${ns}".identifies`, [], 3), 'three identifies');

    expect(await rows(`SELECT id, name, plan, city, seats FROM "${ns}".users`)).toEqual([{ id: 'eve', name: 'Eve', plan: 'pro', city: 'Berlin', seats: '5' }]);
    expect(await rows(`SELECT id, plan, city, seats FROM "${ns}".identifies ORDER BY id`)).toEqual([
      { id: 'i-1', plan: 'free', city: 'Paris', seats: null },
      { id: 'i-2', plan: 'pro', city: null, seats: '5' },
      { id: 'i-3', plan: null, city: 'Berlin', seats: null },
    ]);
    // A users discard is keyed by the userId, the others by the messageId.
    expect(await rows(`SELECT row_id, table_name, column_name, column_value FROM "${ns}".rudder_discards ORDER BY table_name`)).toEqual([
      { row_id: 'i-3', table_name: 'identifies', column_name: 'seats', column_value: 'lots' },
      { row_id: 'eve', table_name: 'users', column_name: 'seats', column_value: 'lots' },
    ]);
    const [latest] = await rows(`SELECT max(received_at) AS received_at FROM "${ns}".identifies`);
    const [user] = await rows(`SELECT received_at FROM "${ns}".users`);
    expect(user!.received_at).toEqual(latest!.received_at);
  });

  it('lets a late, older identify fill only the users columns a newer one left empty', async () => {
    const workspace = parseWorkspace({ sources: [source(direct, connectionFields())] }, 'test workspace');
    const config = workspace.destination(direct.sourceId, direct.destinationId)!.config as PostgresConfig;
    const identify = (messageId: string, receivedAt: string, traits: Record<string, unknown>) =>
      postgres
        .transform({ type: 'identify', messageId, userId: 'hal', rudderId: 'r-hal', receivedAt, timestamp: receivedAt, traits }, config, { destinationId: direct.destinationId })
        .filter((r: DeliveryRequest): r is WarehouseDeliveryRequest => r.kind === 'warehouse');
    const connections = new PostgresConnections();
    const options = { destination: workspace.destination(direct.sourceId, direct.destinationId)!, timeoutMs: 5_000, idempotencyKey: 'unused' };
    try {
      const newer = identify('h-2', '2024-05-02T00:00:00.000Z', { plan: 'pro' });
      const older = identify('h-1', '2024-05-01T00:00:00.000Z', { plan: 'free', city: 'Oslo' });
      for (const request of [...newer, ...older, ...newer]) expect(await connections.send(request, options)).toEqual({ kind: 'delivered' });

      expect(await rows(`SELECT id, plan, city, received_at FROM "${direct.namespace}".users`)).toEqual([
        { id: 'hal', plan: 'pro', city: 'Oslo', received_at: new Date('2024-05-02T00:00:00.000Z') },
      ]);
      expect(await rows(`SELECT id FROM "${direct.namespace}".identifies ORDER BY id`)).toEqual([{ id: 'h-1' }, { id: 'h-2' }]);
    } finally {
      await connections.close();
    }
    expect(await connections.send(identify('h-3', '2024-05-03T00:00:00.000Z', {})[0]!, options)).toMatchObject({ kind: 'retryable', error: expect.stringContaining('shutting down') });
  });

  it('retries while the database is unreachable, and loads once it is back', async () => {
    await post(unreachable, '/v1/track', { userId: 'fay', messageId: 'u-1', event: 'Signed Up', properties: { plan: 'pro' } });
    const workflowId = pipeline.workflowId(unreachable.sourceId, 'fay');
    const stuck = await eventually(async () => {
      const [lane] = await pipeline.lanes(workflowId).catch(() => []);
      return lane && lane.attempts >= 2 ? lane : undefined;
    }, 'two failed attempts');
    expect(stuck).toMatchObject({ depth: 1, aborted: 0, lastError: expect.stringContaining('ECONNREFUSED') });
    expect(await pipeline.deadLetters(unreachable.destinationId)).toEqual([]);

    // The database "comes back": the closed port starts forwarding to the real one.
    const url = new URL(testInfra().databaseUrl);
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const upstream = net.connect(Number(url.port || 5432), url.hostname);
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => sockets.delete(socket));
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => proxy.listen(closedPort, '127.0.0.1', resolve));
    try {
      await eventually(() => rowsOnce(`SELECT id, plan FROM "${unreachable.namespace}".signed_up`, []), 'the row after the database came back');
      const [lane] = await pipeline.lanes(workflowId);
      expect(lane).toMatchObject({ depth: 0, delivered: 1, aborted: 0 });
      expect(await pipeline.deadLetters(unreachable.destinationId)).toEqual([]);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });

  it('retries a load whose session the server terminates (admin shutdown)', async () => {
    const ns = terminated.namespace;
    await post(terminated, '/v1/track', { userId: 'gus', messageId: 't-1', event: 'Opened', properties: { n: 1 } });
    await eventually(() => rowsOnce(`SELECT id FROM "${ns}".opened`, []), 'the first row');

    // Hold the table so the next load blocks mid-transaction, then terminate that session.
    const blocker = await db.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query(`LOCK TABLE "${ns}".tracks IN ACCESS EXCLUSIVE MODE`);
      await post(terminated, '/v1/track', { userId: 'gus', messageId: 't-2', event: 'Opened', properties: { n: 2 } });
      const [waiting] = await eventually(
        () => rowsOnce(`SELECT pid FROM pg_stat_activity WHERE application_name = 'ferry-warehouse' AND wait_event_type = 'Lock' AND query LIKE $1`, [`%"${ns}"."tracks"%`]),
        'the load to wait for the lock',
      );
      await db.query('SELECT pg_terminate_backend($1)', [waiting!.pid]);
      const workflowId = pipeline.workflowId(terminated.sourceId, 'gus');
      const failed = await eventually(async () => {
        const [lane] = await pipeline.lanes(workflowId);
        return lane && lane.attempts >= 1 ? lane : undefined;
      }, 'the failed attempt');
      expect(failed.lastError).toMatch(/terminating connection due to administrator command \(57P01\)/);
    } finally {
      await blocker.query('ROLLBACK');
      blocker.release();
    }
    await eventually(() => rowsOnce(`SELECT id FROM "${ns}".opened WHERE id = 't-2'`, []), 'the retried row');
    expect(await pipeline.deadLetters(terminated.destinationId)).toEqual([]);
  });
});
