/**
 * docker-compose.yml cannot run on this machine (no Docker engine), so check what can be checked:
 * it parses, every reference resolves, and Ferry's services are configured the way the code reads.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { DEFAULT_WORKER_METRICS_PORT, gatewayEnvSchema, parseEnv, workerEnvSchema } from '../../config/env';
import { balancerEnvSchema } from '../../processes/balancer';

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

/** The container side of each published port ("127.0.0.1:8233:8080" publishes 8080). */
const containerPorts = (service: Service) => (service.ports ?? []).map((p) => p.split(':').at(-1));

/** Compose's `${VAR:-default}` with every variable unset. */
const withDefaults = (value: string) => value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');

describe('docker-compose.yml', () => {
  it('has the production-like services, with Temporal set up by admin-tools rather than auto-setup', () => {
    expect(Object.keys(services).sort()).toEqual(
      ['balancer', 'gateway-1', 'gateway-2', 'grafana', 'postgresql', 'prometheus', 'temporal', 'temporal-namespace', 'temporal-schema', 'temporal-ui', 'worker-1', 'worker-2'].sort(),
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
    ['worker-1', workerEnvSchema, 'dist/workers/worker.js'],
    ['worker-2', workerEnvSchema, 'dist/workers/worker.js'],
    ['gateway-1', gatewayEnvSchema, 'dist/api/server.js'],
    ['gateway-2', gatewayEnvSchema, 'dist/api/server.js'],
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
    expect(containerPorts(services[temporalHost!]!)).toContain(temporalPort);
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

  it('puts every gateway, on the port it listens on, behind the balancer, which alone is published', () => {
    const balancer = services.balancer!;
    expect(balancer.build).toBe('.');
    expect(balancer.command).toEqual(['node', 'dist/scripts/balancer.js']);
    expect(fs.existsSync(path.join(ROOT, 'scripts', 'balancer.ts'))).toBe(true);
    const env = parseEnv(balancerEnvSchema, balancer.environment);
    expect(Object.keys(balancer.environment ?? {}).filter((key) => !Object.keys(balancerEnvSchema.shape).includes(key))).toEqual([]);
    const gateways = Object.entries(services).filter(([, service]) => service.command?.at(-1) === 'dist/api/server.js');
    expect(gateways.length).toBeGreaterThanOrEqual(2);
    const listening = gateways.map(([name, service]) => `http://${name}:${parseEnv(gatewayEnvSchema, { ...service.environment, DATABASE_URL: 'postgresql://x@y/z' }).PORT}`);
    expect([...env.FERRY_BALANCER_UPSTREAMS].sort()).toEqual(listening.sort());
    expect(balancer.ports).toEqual([`${env.PORT}:${env.PORT}`]);
    for (const [name, service] of gateways) expect({ name, ports: service.ports }).toEqual({ name, ports: undefined });
    for (const [name] of gateways) expect({ name, condition: balancer.depends_on?.[name]?.condition }).toEqual({ name, condition: 'service_healthy' });
  });

  it('publishes the Temporal gRPC port and the Web UI on the host loopback only', () => {
    for (const name of ['temporal', 'temporal-ui']) {
      const ports = services[name]!.ports ?? [];
      expect(ports.length).toBeGreaterThan(0);
      for (const port of ports) expect({ name, port, loopback: port.startsWith('127.0.0.1:') }).toEqual({ name, port, loopback: true });
    }
  });

  it('runs Temporal with at least 4 history shards and eager activity execution', () => {
    const temporal = services.temporal!;
    expect(Number(temporal.environment!.NUM_HISTORY_SHARDS)).toBeGreaterThanOrEqual(4);
    const file = temporal.environment!.DYNAMIC_CONFIG_FILE_PATH!;
    const source = temporal.volumes!.map((v) => v.split(':')).find(([, target]) => target === file)?.[0];
    expect(source).toBeDefined();
    const dynamic = parse(fs.readFileSync(path.join(ROOT, source!), 'utf8')) as Record<string, Array<{ value: unknown }>>;
    expect(dynamic['system.enableActivityEagerExecution']).toEqual([{ value: true }]);
  });

  it('points the Web UI at the Temporal frontend', () => {
    expect(services['temporal-ui']!.environment!.TEMPORAL_ADDRESS).toBe('temporal:7233');
  });

  describe('metrics', () => {
    const prometheus = parse(fs.readFileSync(path.join(ROOT, 'docker', 'prometheus', 'prometheus.yml'), 'utf8')) as {
      scrape_configs: Array<{ job_name: string; metrics_path?: string; static_configs: Array<{ targets: string[] }> }>;
    };
    const targetsOf = (job: string) => prometheus.scrape_configs.find((c) => c.job_name === job)?.static_configs.flatMap((c) => c.targets) ?? [];
    /** The services running an entry point, with their env as the code parses it. */
    const running = <S extends typeof gatewayEnvSchema | typeof workerEnvSchema>(entry: string, schema: S) =>
      Object.entries(services)
        .filter(([, service]) => service.command?.at(-1) === entry)
        .map(([name, service]) => ({ name, env: parseEnv(schema, Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, withDefaults(String(v))]))) }));

    it('Prometheus scrapes every gateway on the port it listens on, at /metrics', () => {
      const gateways = running('dist/api/server.js', gatewayEnvSchema);
      expect(gateways.length).toBeGreaterThan(0);
      expect(targetsOf('ferry-gateway').sort()).toEqual(gateways.map(({ name, env }) => `${name}:${env.PORT}`).sort());
      expect(prometheus.scrape_configs.every((c) => (c.metrics_path ?? '/metrics') === '/metrics')).toBe(true);
    });

    it("Prometheus scrapes every worker's metrics listener and Temporal SDK exporter, which listen beyond the container", () => {
      const workers = running('dist/workers/worker.js', workerEnvSchema);
      expect(workers.length).toBeGreaterThan(0);
      expect(targetsOf('ferry-worker').sort()).toEqual(workers.map(({ name, env }) => `${name}:${env.FERRY_WORKER_METRICS_PORT}`).sort());
      expect(targetsOf('temporal-sdk').sort()).toEqual(workers.map(({ name, env }) => `${name}:${env.FERRY_TEMPORAL_METRICS_ADDRESS?.split(':')[1]}`).sort());
      for (const { name, env } of workers) {
        expect({ name, host: env.FERRY_WORKER_METRICS_HOST, sdk: env.FERRY_TEMPORAL_METRICS_ADDRESS?.split(':')[0] }).toEqual({ name, host: '0.0.0.0', sdk: '0.0.0.0' });
        // The code's default port, so that a worker started by hand is scraped the same way.
        expect(env.FERRY_WORKER_METRICS_PORT).toBe(DEFAULT_WORKER_METRICS_PORT);
      }
    });

    it('publishes Prometheus and Grafana on the host loopback only', () => {
      for (const name of ['prometheus', 'grafana']) {
        const ports = services[name]!.ports ?? [];
        expect(ports.length).toBeGreaterThan(0);
        for (const port of ports) expect({ name, port, loopback: port.startsWith('127.0.0.1:') }).toEqual({ name, port, loopback: true });
      }
    });

    it('Prometheus reads the config file in the repository', () => {
      const service = services.prometheus!;
      const mount = service.volumes!.map((v) => v.split(':')).find(([source]) => source === './docker/prometheus/prometheus.yml');
      expect(service.command).toContain(`--config.file=${mount![1]}`);
    });

    it("Grafana gets the dashboard and a data source pointing at the prometheus service", () => {
      const grafana = services.grafana!;
      const mounts = new Map(grafana.volumes!.map((v) => v.split(':')).map(([source, target]) => [source!, target!]));
      const provisioning = mounts.get('./docker/grafana/provisioning');
      expect(provisioning).toBe('/etc/grafana/provisioning');
      const provider = parse(fs.readFileSync(path.join(ROOT, 'docker', 'grafana', 'provisioning', 'dashboards', 'ferry.yml'), 'utf8')) as { providers: Array<{ options: { path: string } }> };
      // The provider reads the folder the dashboards are mounted at, and that folder holds ferry.json.
      const dashboards = [...mounts].find(([, target]) => target === provider.providers[0]!.options.path);
      expect(dashboards).toBeDefined();
      expect(fs.existsSync(path.join(ROOT, dashboards![0], 'ferry.json'))).toBe(true);
      const datasource = parse(fs.readFileSync(path.join(ROOT, 'docker', 'grafana', 'provisioning', 'datasources', 'prometheus.yml'), 'utf8')) as { datasources: Array<{ url: string; uid: string }> };
      const url = new URL(datasource.datasources[0]!.url);
      expect(url.hostname).toBe('prometheus');
      expect(services.prometheus!.ports!.map((p) => p.split(':').at(-1))).toContain(url.port);
      // The dashboard's default data source is the provisioned one.
      const dashboard = JSON.parse(fs.readFileSync(path.join(ROOT, dashboards![0], 'ferry.json'), 'utf8')) as { templating: { list: Array<{ name: string; current?: { value?: string } }> } };
      expect(dashboard.templating.list.find((v) => v.name === 'datasource')?.current?.value).toBe(datasource.datasources[0]!.uid);
    });
  });
});
