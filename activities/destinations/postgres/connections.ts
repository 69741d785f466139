/**
 * The `warehouse` transport for PostgreSQL: resolves a request's destination to its connection
 * settings in the workspace, keeps one small pool per distinct connection, and loads the request.
 */
import { Pool, type PoolConfig } from 'pg';
import type { ConnectionOptions } from 'node:tls';
import type { Workspace } from '../../../config/workspace';
import type { DeliveryOutcome, SendOptions } from '../../deliver/outcome';
import type { WarehouseDeliveryRequest } from '../../types';
import type { PostgresConfig } from './config';
import { loadWarehouseRequest } from './delivery';
import { classifyPostgresFailure } from './failures';

export interface PostgresConnectionsOptions {
  readonly workspace: Workspace;
  /** Connections per distinct database; loads are short transactions. @default 4 */
  readonly poolSize?: number;
  /** A pool client idle this long is closed. @default 30000 */
  readonly idleTimeoutMs?: number;
}

type Resolved = { readonly ok: true; readonly config: PostgresConfig } | { readonly ok: false; readonly outcome: DeliveryOutcome };

/** The `destinationDefinition.name` whose destinations this transport loads. */
const DEFINITION_NAME = 'POSTGRES';

export class PostgresConnections {
  private readonly pools = new Map<string, Pool>();
  private readonly resolved = new Map<string, Resolved>();
  private closed = false;

  constructor(private readonly options: PostgresConnectionsOptions) {}

  /** Loads one warehouse request; a Transport for DeliveryRequest kind `warehouse`. */
  readonly send = async (request: WarehouseDeliveryRequest, options: SendOptions): Promise<DeliveryOutcome> => {
    const resolved = this.resolve(request.destinationId);
    if (!resolved.ok) return resolved.outcome;
    const target = describeTarget(resolved.config);
    if (this.closed) return { kind: 'retryable', error: `PostgreSQL ${target}: the worker is shutting down`, throttled: false };
    const pool = this.pool(resolved.config, options.timeoutMs);
    let client;
    try {
      client = await pool.connect();
    } catch (err) {
      return classifyPostgresFailure(err, target);
    }
    // A checked-out client whose connection drops (e.g. the server terminating the session) emits
    // 'error' besides failing its query; unheard, that event would crash the worker.
    const onError = () => undefined;
    client.on('error', onError);
    try {
      await loadWarehouseRequest(client, request);
      client.removeListener('error', onError);
      client.release();
      return { kind: 'delivered' };
    } catch (err) {
      // The session may be broken or mid-transaction; do not hand it to the next load.
      client.release(true);
      return classifyPostgresFailure(err, target);
    }
  };

  /** Ends every pool; call after the worker has stopped running activities. */
  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((pool) => pool.end()));
  }

  private resolve(destinationId: string): Resolved {
    const cached = this.resolved.get(destinationId);
    if (cached) return cached;
    // RudderStack's backend config repeats a destination under every source it is connected to.
    const configs = new Map<string, PostgresConfig>();
    for (const source of this.options.workspace.sources) {
      for (const destination of source.destinations) {
        if (destination.id !== destinationId || destination.definitionName !== DEFINITION_NAME) continue;
        const config = destination.config as PostgresConfig;
        configs.set(connectionKey(config), config);
      }
    }
    const [first] = configs.values();
    let result: Resolved;
    if (configs.size === 1 && first) result = { ok: true, config: first };
    else if (configs.size === 0) result = { ok: false, outcome: { kind: 'rejected', body: `no ${DEFINITION_NAME} destination ${destinationId} in the workspace config` } };
    else {
      const error = `${DEFINITION_NAME} destination ${destinationId} has different connection settings under different sources; make them equal`;
      result = { ok: false, outcome: { kind: 'retryable', error, throttled: false } };
    }
    this.resolved.set(destinationId, result);
    return result;
  }

  private pool(config: PostgresConfig, timeoutMs: number): Pool {
    const key = connectionKey(config);
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Pool({
        ...connectionSettings(config),
        max: this.options.poolSize ?? 4,
        idleTimeoutMillis: this.options.idleTimeoutMs ?? 30_000,
        // Idle warehouse connections must not keep a stopping process alive.
        allowExitOnIdle: true,
        connectionTimeoutMillis: timeoutMs,
        statement_timeout: timeoutMs,
        query_timeout: timeoutMs + 1_000,
        application_name: 'ferry-warehouse',
      });
      // An idle client losing its connection (the database restarting) must not crash the worker.
      pool.on('error', () => undefined);
      this.pools.set(key, pool);
    }
    return pool;
  }
}

/** What identifies a connection: two destinations with equal settings share a pool. */
function connectionKey(config: PostgresConfig): string {
  const { connectionString, host, port, database, user, password, sslMode, serverCA, clientCert, clientKey } = config;
  return JSON.stringify([connectionString, host, port, database, user, password, sslMode, serverCA, clientCert, clientKey]);
}

function connectionSettings(config: PostgresConfig): PoolConfig {
  if (config.connectionString !== undefined) return { connectionString: config.connectionString };
  return {
    host: config.host,
    port: config.port ?? 5432,
    database: config.database,
    user: config.user,
    password: config.password ?? '',
    ssl: sslOptions(config),
  };
}

/** libpq's sslmode semantics on node's TLS options. */
function sslOptions(config: PostgresConfig): false | ConnectionOptions {
  const client = config.clientCert !== undefined ? { cert: config.clientCert, key: config.clientKey } : {};
  switch (config.sslMode ?? 'disable') {
    case 'disable':
      return false;
    case 'require':
      return { rejectUnauthorized: false, ...client };
    case 'verify-ca':
      // The chain is checked, the host name is not.
      return { rejectUnauthorized: true, ca: config.serverCA, checkServerIdentity: () => undefined, ...client };
    case 'verify-full':
      return { rejectUnauthorized: true, ca: config.serverCA, ...client };
  }
}

/** host:port/database for messages, never the credentials. */
function describeTarget(config: PostgresConfig): string {
  if (config.connectionString === undefined) return `${config.host}:${config.port ?? 5432}/${config.database}`;
  try {
    const url = new URL(config.connectionString);
    return `${url.hostname}:${url.port || 5432}${url.pathname}`;
  } catch {
    return 'connectionString';
  }
}
