import { Pool } from 'pg';

export interface PoolOptions {
  /** Cancels any statement running longer than this, server-side. @default none */
  readonly statementTimeoutMs?: number;
  /** The schema the tables live in (search_path), e.g. one per test pipeline. @default the server's default */
  readonly schema?: string;
  /** The connections' application_name, as pg_stat_activity shows it. @default none */
  readonly applicationName?: string;
  /**
   * Commit without waiting for the WAL to reach disk (synchronous_commit = off): a commit then takes no
   * disk sync, and a crash of PostgreSQL itself (not of Ferry) can lose the last fraction of a second
   * of writes. Only for data that can be lost that way. @default false
   */
  readonly asyncCommit?: boolean;
}

export function createPool(databaseUrl: string, max = 10, { statementTimeoutMs, schema, applicationName, asyncCommit = false }: PoolOptions = {}): Pool {
  const settings = [...(schema === undefined ? [] : [`-c search_path=${schema}`]), ...(asyncCommit ? ['-c synchronous_commit=off'] : [])];
  const pool = new Pool({
    connectionString: databaseUrl,
    max,
    connectionTimeoutMillis: 5_000,
    ...(statementTimeoutMs === undefined ? {} : { statement_timeout: statementTimeoutMs }),
    ...(settings.length === 0 ? {} : { options: settings.join(' ') }),
    ...(applicationName === undefined ? {} : { application_name: applicationName }),
  });
  // An idle client losing its connection (e.g. the database restarting) must not crash the process.
  pool.on('error', () => undefined);
  return pool;
}
