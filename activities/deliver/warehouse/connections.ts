/**
 * The `warehouse` transport for PostgreSQL: keeps one small pool per distinct connection (taken from
 * the destination's parsed config) and loads each request in one transaction.
 */
import { Pool, type PoolConfig } from 'pg';
import type { ConnectionOptions } from 'node:tls';
import type { DeliveryOutcome, SendOptions } from '../transport';
import type { WarehouseDeliveryRequest } from '../../../delivery/requests';
import { DESTINATION_NAMES } from '../../../destinations/names';
import type { PostgresConfig } from '../../../destinations/postgres/config';
import { loadWarehouseRequest } from './load';
import { classifyPostgresFailure } from './failures';

export interface PostgresConnectionsOptions {
  /** Connections per distinct database; loads are short transactions. @default 4 */
  readonly poolSize?: number;
  /** A pool client idle this long is closed. @default 30000 */
  readonly idleTimeoutMs?: number;
}

export class PostgresConnections {
  private readonly pools = new Map<string, Pool>();
  private closed = false;

  constructor(private readonly options: PostgresConnectionsOptions = {}) {}

  /** Loads one warehouse request; a Transport for DeliveryRequest kind `warehouse`. */
  readonly send = async (request: WarehouseDeliveryRequest, options: SendOptions): Promise<DeliveryOutcome> => {
    const { destination } = options;
    if (destination.definition.name !== DESTINATION_NAMES.postgres) {
      return { kind: 'rejected', body: `destination ${destination.id} is ${destination.definition.name}, not a ${DESTINATION_NAMES.postgres} warehouse` };
    }
    const config = destination.config as PostgresConfig;
    const target = describeTarget(config);
    if (this.closed) return { kind: 'retryable', error: `PostgreSQL ${target}: the worker is shutting down`, throttled: false };
    const pool = this.pool(config, options.timeoutMs);
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
