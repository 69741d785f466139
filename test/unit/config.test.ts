import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gatewayEnvSchema, parseEnv, workerEnvSchema } from '../../config/env';
import { ConfigError } from '../../config/errors';
import { DEMO_WORKSPACE_PATH, loadWorkspace, parseWorkspace } from '../../config/workspace';

const ROOT = path.resolve(__dirname, '..', '..');
const DB = 'postgresql://u:p@127.0.0.1:5432/ferry';

describe('environment settings', () => {
  it('applies documented defaults', () => {
    const env = parseEnv(gatewayEnvSchema, { DATABASE_URL: DB });
    expect(env).toMatchObject({ PORT: 8080, TEMPORAL_ADDRESS: '127.0.0.1:7233', TEMPORAL_NAMESPACE: 'default', FERRY_TASK_QUEUE: 'ferry-pipeline', FERRY_MAX_REQUEST_KB: 4000 });
  });

  it('treats an empty variable as unset', () => {
    expect(parseEnv(gatewayEnvSchema, { DATABASE_URL: DB, PORT: '' }).PORT).toBe(8080);
  });

  it.each([
    [{ DATABASE_URL: DB, PORT: 'eighty' }, 'PORT="eighty"'],
    [{ DATABASE_URL: DB, PORT: '70000' }, 'PORT="70000"'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL="mysql://x"'],
    [{}, 'DATABASE_URL=(unset)'],
    [{ DATABASE_URL: DB, LOG_LEVEL: 'loud' }, 'LOG_LEVEL="loud"'],
  ])('rejects %j naming the variable', (env, named) => {
    expect(() => parseEnv(gatewayEnvSchema, env)).toThrow(ConfigError);
    expect(() => parseEnv(gatewayEnvSchema, env)).toThrow(named);
  });

  it('bounds the continue-as-new signal threshold below Temporal’s 10 000 signals per run', () => {
    expect(() => parseEnv(workerEnvSchema, { DATABASE_URL: DB, FERRY_CAN_AFTER_SIGNALS: '20000' })).toThrow('FERRY_CAN_AFTER_SIGNALS');
  });

  it.each(['api/server.js', 'workers/worker.js'])('the %s entry point refuses to start on a bad value, naming it', (entry) => {
    const result = spawnSync(process.execPath, [path.join(ROOT, 'dist', entry)], {
      env: { PATH: process.env.PATH, DATABASE_URL: DB, TEMPORAL_ADDRESS: '127.0.0.1:1', FERRY_TASK_QUEUE: '', PORT: 'x', FERRY_MAX_BATCH_SIZE: '0' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(entry.startsWith('api') ? /PORT="x"/ : /FERRY_MAX_BATCH_SIZE="0"/);
  });
});

const webhook = (config: unknown, extra: Record<string, unknown> = {}) => ({
  id: 'd1',
  enabled: true,
  destinationDefinition: { name: 'WEBHOOK' },
  config,
  ...extra,
});
const workspace = (destinations: unknown[], source: Record<string, unknown> = {}) => ({
  sources: [{ id: 's1', writeKey: 'k1', enabled: true, destinations, ...source }],
});

describe('workspace config', () => {
  it('loads the demo workspace', () => {
    const ws = loadWorkspace(undefined, {});
    expect(ws.sourceByWriteKey('demo-write-key')?.destinations[0]).toMatchObject({
      definition: expect.objectContaining({ name: 'WEBHOOK' }),
      config: { webhookUrl: 'http://127.0.0.1:8099/events', webhookMethod: 'POST' },
    });
    expect(DEMO_WORKSPACE_PATH).toMatch(/config\/demo-workspace\.json$/);
  });

  it.each([
    [{ sources: 'nope' }, 'sources: '],
    [workspace([], { writeKey: '' }), 'sources[0].writeKey: '],
    [workspace([webhook({})]), 'sources[0].destinations[0].config.webhookUrl: '],
    [workspace([webhook({ webhookUrl: 'ftp://x' })]), 'sources[0].destinations[0].config.webhookUrl: '],
    [workspace([{ ...webhook({ webhookUrl: 'http://127.0.0.1/' }), destinationDefinition: { name: 'NOPE' } }]), 'sources[0].destinations[0].destinationDefinition.name: unknown destination "NOPE"'],
    [workspace([webhook({ webhookUrl: 'http://127.0.0.1/' }), webhook({ webhookUrl: 'http://127.0.0.1/' })]), 'sources[0].destinations[1].id: duplicate destination id "d1"'],
    [workspace([webhook({ webhookUrl: 'http://127.0.0.1/' }, { retry: { windowMs: -1 } })]), 'sources[0].destinations[0].retry.windowMs: '],
    [{ sources: [workspace([]).sources[0], workspace([]).sources[0]] }, 'sources[1].writeKey: duplicate write key'],
  ])('rejects a bad document naming the path (%#)', (document, path) => {
    expect(() => parseWorkspace(document, 'ws.json')).toThrow(ConfigError);
    expect(() => parseWorkspace(document, 'ws.json')).toThrow(path);
  });

  describe('from a file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-config-'));
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
    const write = (name: string, text: string) => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, text);
      return file;
    };

    it('substitutes ${VAR} and ${VAR:-default} from the environment', () => {
      const file = write('env.json', JSON.stringify(workspace([webhook({ webhookUrl: 'http://${HOOK_HOST}:${HOOK_PORT:-9000}/in' })])));
      const ws = loadWorkspace(file, { HOOK_HOST: '127.0.0.2' });
      expect(ws.destination('s1', 'd1')?.config).toMatchObject({ webhookUrl: 'http://127.0.0.2:9000/in' });
    });

    it('names an unset variable and where it is used', () => {
      const file = write('unset.json', JSON.stringify(workspace([webhook({ webhookUrl: 'http://${NOT_SET_ANYWHERE}/' })])));
      expect(() => loadWorkspace(file, {})).toThrow('sources[0].destinations[0].config.webhookUrl references unset environment variable NOT_SET_ANYWHERE');
    });

    it('reports a file that is not JSON, and a missing file', () => {
      expect(() => loadWorkspace(write('bad.json', '{ nope'), {})).toThrow(/is not valid JSON/);
      expect(() => loadWorkspace(path.join(dir, 'missing.json'), {})).toThrow(/cannot read workspace config/);
    });
  });
});

describe('workspace id', () => {
  it('keeps the document’s workspaceId for the browser SDK’s source config', () => {
    expect(parseWorkspace({ workspaceId: 'ws-42', sources: [] }, 'ws.json').workspaceId).toBe('ws-42');
    expect(parseWorkspace({ sources: [] }, 'ws.json').workspaceId).toBeUndefined();
  });
});
