import { z } from 'zod';
import { safeNamespace } from './naming';

/** RudderStack's backend config stores an unset optional text field as "", so blank reads as absent. */
const blankAsUnset = (value: unknown): unknown => (typeof value === 'string' && value.trim() === '' ? undefined : value);

const optionalText = (name: string) => z.preprocess(blankAsUnset, z.string({ error: `${name} must be a string` }).optional());

/** RudderStack sends the port as a string ("5432"); a number is accepted too. */
const port = z.preprocess(
  (value) => {
    const unset = blankAsUnset(value);
    return typeof unset === 'string' && /^\d+$/.test(unset.trim()) ? Number(unset) : unset;
  },
  z
    .number({ error: 'port must be a number' })
    .int('port must be a whole number')
    .min(1, 'port must be 1-65535')
    .max(65535, 'port must be 1-65535')
    .optional(),
);

export const SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;

const CONNECTION_FIELDS = ['host', 'port', 'database', 'user', 'password', 'sslMode', 'serverCA', 'clientCert', 'clientKey'] as const;

/**
 * RudderStack's PostgreSQL destination config (`host`, `port`, `database`, `user`, `password`,
 * `namespace`, `sslMode`), or a `connectionString` instead of the separate connection fields.
 */
export const postgresConfigSchema = z
  .strictObject({
    /** `postgres://user:password@host:port/database?sslmode=...`; excludes the separate connection fields. */
    connectionString: z.preprocess(
      blankAsUnset,
      z
        .string()
        .refine(isPostgresUrl, 'connectionString must be a postgres:// or postgresql:// URL with a host')
        .optional(),
    ),
    host: optionalText('host'),
    /** @default 5432 */
    port,
    database: optionalText('database'),
    user: optionalText('user'),
    /** @default "" (no password) */
    password: optionalText('password'),
    /** The schema the tables are created in, snake_cased the way RudderStack names namespaces. */
    namespace: z
      .string({ error: 'namespace is required' })
      .transform((raw) => safeNamespace(raw))
      .refine((name) => name !== '', 'namespace must contain a letter or a digit')
      .refine((name) => !name.startsWith('pg_'), 'namespace must not start with pg_ (reserved by PostgreSQL)'),
    /** @default disable */
    sslMode: z.preprocess(blankAsUnset, z.enum(SSL_MODES, { error: `sslMode must be one of ${SSL_MODES.join(', ')}` }).optional()),
    /** PEM CA certificate the server's certificate must chain to (verify-ca, verify-full). */
    serverCA: optionalText('serverCA'),
    /** PEM client certificate and key, for servers that authenticate clients by certificate. */
    clientCert: optionalText('clientCert'),
    clientKey: optionalText('clientKey'),
    /** Write track events to their event table only. @default false */
    skipTracksTable: z.boolean().default(false),
    /** Write identify events to `identifies` only, without upserting `users`. @default false */
    skipUsersTable: z.boolean().default(false),
  })
  .superRefine((config, ctx) => {
    if (config.connectionString !== undefined) {
      for (const field of CONNECTION_FIELDS) {
        if (config[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: `${field} cannot be combined with connectionString` });
      }
      return;
    }
    for (const field of ['host', 'database', 'user'] as const) {
      if (config[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message: `${field} is required (or give a connectionString)` });
    }
    const verifies = config.sslMode === 'verify-ca' || config.sslMode === 'verify-full';
    if (verifies && config.serverCA === undefined) {
      ctx.addIssue({ code: 'custom', path: ['serverCA'], message: `serverCA is required with sslMode ${config.sslMode}` });
    }
    if ((config.clientCert === undefined) !== (config.clientKey === undefined)) {
      ctx.addIssue({ code: 'custom', path: [config.clientCert === undefined ? 'clientCert' : 'clientKey'], message: 'clientCert and clientKey go together' });
    }
  });

export type PostgresConfig = z.infer<typeof postgresConfigSchema>;

function isPostgresUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.hostname !== '';
  } catch {
    return false;
  }
}
