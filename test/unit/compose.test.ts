/**
 * docker-compose.yml cannot run on this machine (no Docker engine), so check what can be checked:
 * it parses, every reference resolves, and Ferry's services are configured the way the code reads.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { gatewayEnvSchema, parseEnv, workerEnvSchema } from '../../config/env';

const ROOT = path.resolve(__dirname, '..', '..');

interface Service {
  image?: string;
  build?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
}

const compose = parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;

/** Compose's `${VAR:-default}` with every variable unset. */
const withDefaults = (value: string) => value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');

describe('docker-compose.yml', () => {
  it('has the production-like services, with Temporal set up by admin-tools rather than auto-setup', () => {
    expect(Object.keys(services).sort()).toEqual(
      ['ferry-gateway', 'ferry-worker', 'postgresql', 'temporal', 'temporal-namespace', 'temporal-schema', 'temporal-ui'].sort(),
    );
    expect(services.temporal!.image).toMatch(/^temporalio\/server:/);
    expect(services['temporal-schema']!.image).toMatch(/^temporalio\/admin-tools:/);
    expect(services['temporal-ui']!.image).toMatch(/^temporalio\/ui:/);
    expect(JSON.stringify(compose)).not.toContain('auto-setup');
  });

  it('only depends on services it defines', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const dependency of Object.keys(service.depends_on ?? {})) {
        expect({ name, dependency, defined: dependency in services }).toEqual({ name, dependency, defined: true });
      }
    }
  });

  it('mounts files that exist in the repository', () => {
    for (const service of Object.values(services)) {
      for (const volume of service.volumes ?? []) {
        const source = withDefaults(volume).split(':')[0]!;
        if (!source.startsWith('.')) continue; // a named volume
        expect({ source, exists: fs.existsSync(path.join(ROOT, source)) }).toEqual({ source, exists: true });
      }
    }
  });

  it.each([
    ['ferry-worker', workerEnvSchema, 'dist/workers/worker.js'],
    ['ferry-gateway', gatewayEnvSchema, 'dist/api/server.js'],
  ] as const)('%s: builds from the Dockerfile, runs a real entry point, and sets only variables the code reads, all valid', (name, schema, entry) => {
    const service = services[name]!;
    expect(service.build).toBe('.');
    expect(fs.existsSync(path.join(ROOT, 'Dockerfile'))).toBe(true);
    expect(service.command![0]).toBe('node');
    expect(service.command!.at(-1)).toBe(entry);
    expect(fs.existsSync(path.join(ROOT, entry.replace(/^dist\//, '').replace(/\.js$/, '.ts')))).toBe(true);

    const env = Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, withDefaults(String(v))]));
    const known = Object.keys(schema.shape);
    expect(Object.keys(env).filter((key) => !known.includes(key))).toEqual([]);
    const parsed = parseEnv(schema, env);

    // Addresses point at the services that provide them, on the ports those services use.
    const [temporalHost, temporalPort] = parsed.TEMPORAL_ADDRESS.split(':');
    expect(temporalHost! in services).toBe(true);
    expect(services[temporalHost!]!.ports).toContain(`${temporalPort}:${temporalPort}`);
    const db = new URL(parsed.DATABASE_URL);
    expect(db.hostname in services).toBe(true);
    const init = fs.readFileSync(path.join(ROOT, 'docker', 'postgres-init', '01-ferry.sql'), 'utf8');
    expect(init).toContain(`CREATE ROLE ${db.username} WITH LOGIN PASSWORD '${db.password}'`);
    expect(init).toContain(`CREATE DATABASE ${db.pathname.slice(1)} OWNER ${db.username}`);
    // The workspace file named in the env is in the mounted folder.
    const mount = service.volumes!.map((v) => withDefaults(v).split(':')).find(([, target]) => parsed.FERRY_WORKSPACE_CONFIG!.startsWith(`${target}/`));
    expect(mount).toBeDefined();
    expect(fs.existsSync(path.join(ROOT, mount![0]!, path.basename(parsed.FERRY_WORKSPACE_CONFIG!)))).toBe(true);
  });

  it('publishes the gateway on the port it listens on', () => {
    const gateway = services['ferry-gateway']!;
    const { PORT } = parseEnv(gatewayEnvSchema, { ...gateway.environment, DATABASE_URL: 'postgresql://x@y/z' });
    expect(gateway.ports).toContain(`${PORT}:${PORT}`);
  });

  it('points the Web UI at the Temporal frontend', () => {
    expect(services['temporal-ui']!.environment!.TEMPORAL_ADDRESS).toBe('temporal:7233');
  });
});
