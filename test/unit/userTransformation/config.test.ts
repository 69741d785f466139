import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkTransformationCode } from '../../../transformations/compile';
import { TransformationCodeError } from '../../../transformations/errors';
import { ConfigError } from '../../../config/errors';
import { PROJECT_ROOT } from '../../../config/paths';
import { loadWorkspace, parseWorkspace } from '../../../config/workspace';
import { COMPILING, TEST_LIMITS } from './support';

const PASS_THROUGH = 'export function transformEvent(event, metadata) { return event; }';

function hook(id: string, transformations?: unknown[]): Record<string, unknown> {
  return { id, enabled: true, destinationDefinition: { name: 'WEBHOOK' }, config: { webhookUrl: 'http://127.0.0.1:9/in' }, ...(transformations && { transformations }) };
}

/** Two destinations, the second with the given transformations, so paths name destinations[1]. */
function workspaceWith(transformations: unknown[]): unknown {
  return { sources: [{ id: 'src', writeKey: 'wk', enabled: true, destinations: [hook('plain'), hook('transformed', transformations)] }] };
}

function configError(document: unknown, options?: { baseDir?: string }): ConfigError {
  try {
    parseWorkspace(document, 'test.json', { ...COMPILING, ...options });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('parseWorkspace accepted the workspace');
}

describe('transformations in the workspace config', () => {
  it('loads inline code in RudderStack’s shape, with the mode its exports give', () => {
    const workspace = parseWorkspace(
      workspaceWith([{ versionId: 'v1', id: 't1', name: 'Enrich', config: { code: 'export function transformBatch(events) { return events; }' } }]),
      'test.json',
      COMPILING,
    );
    expect(workspace.destination('src', 'plain')!.transformation).toBeUndefined();
    expect(workspace.destination('src', 'transformed')!.transformation).toEqual({
      versionId: 'v1',
      id: 't1',
      name: 'Enrich',
      code: 'export function transformBatch(events) { return events; }',
      mode: 'batch',
    });
  });

  it('reads codeFile relative to the workspace file, and leaves ${...} in code alone', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-ut-'));
    try {
      const code = 'export function transformEvent(event) { const userId = event.userId; return { ...event, event: `${userId} did it` }; }';
      fs.mkdirSync(path.join(dir, 'transformations'));
      fs.writeFileSync(path.join(dir, 'transformations', 'enrich.js'), code);
      const inline = 'export function transformEvent(event) { const x = 1; return { ...event, event: `${x}` }; }';
      const file = path.join(dir, 'workspace.json');
      fs.writeFileSync(
        file,
        JSON.stringify({
          sources: [
            {
              id: 'src',
              writeKey: 'wk',
              enabled: true,
              destinations: [
                hook('fromFile', [{ versionId: 'file-v1', config: { codeFile: 'transformations/enrich.js' } }]),
                hook('inline', [{ versionId: 'inline-v1', config: { code: inline } }]),
              ],
            },
          ],
        }),
      );
      const workspace = loadWorkspace(file, { userId: 'FROM-ENV', x: 'FROM-ENV' }, COMPILING);
      expect(workspace.destination('src', 'fromFile')!.transformation).toMatchObject({ versionId: 'file-v1', name: 'file-v1', code, mode: 'event' });
      expect(workspace.destination('src', 'inline')!.transformation!.code).toBe(inline);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['a syntax error', 'export function transformEvent(event) { return event', 'the code does not compile: SyntaxError: Unexpected end of input'],
    ['no transform function', 'export function transform(event) { return event; }', 'the code must export a function named transformEvent or transformBatch'],
    ['a non-function export', 'export const transformEvent = 42;', 'the code must export a function named transformEvent or transformBatch'],
    ['a CommonJS export', 'module.exports = { transformEvent: (e) => e };', 'its top-level code threw ReferenceError: module is not defined'],
    ['an import', "import { v4 } from 'uuid'; export function transformEvent(e) { return e; }", 'the code imports "uuid"; transformations cannot import modules'],
    ['top-level code that throws', "throw new Error('not ready'); export function transformEvent(e) { return e; }", 'its top-level code threw Error: not ready'],
  ])('rejects code with %s when the config loads, naming the path', (_, code, message) => {
    const err = configError(workspaceWith([{ versionId: 'v1', config: { code } }]));
    expect(err.where).toBe('test.json');
    expect(err.message).toContain(`sources[0].destinations[1].transformations[0]: ${message}`);
  });

  it.each([
    ['more than one transformation', [{ versionId: 'a', config: { code: PASS_THROUGH } }, { versionId: 'b', config: { code: PASS_THROUGH } }], 'sources[0].destinations[1].transformations: a destination takes one transformation, got 2'],
    ['both code and codeFile', [{ versionId: 'a', config: { code: PASS_THROUGH, codeFile: 'x.js' } }], 'sources[0].destinations[1].transformations[0].config: give exactly one of code and codeFile'],
    ['neither code nor codeFile', [{ versionId: 'a', config: {} }], 'sources[0].destinations[1].transformations[0].config: give exactly one of code and codeFile'],
    ['no versionId', [{ config: { code: PASS_THROUGH } }], 'sources[0].destinations[1].transformations[0].versionId'],
    ['a missing codeFile', [{ versionId: 'a', config: { codeFile: 'missing.js' } }], 'sources[0].destinations[1].transformations[0].config.codeFile: cannot read'],
  ])('rejects %s', (_, transformations, message) => {
    expect(configError(workspaceWith(transformations), { baseDir: os.tmpdir() }).message).toContain(message);
  });

  it('rejects one versionId with two different codes', () => {
    const document = {
      sources: [
        {
          id: 'src',
          writeKey: 'wk',
          enabled: true,
          destinations: [
            hook('a', [{ versionId: 'v1', config: { code: PASS_THROUGH } }]),
            hook('b', [{ versionId: 'v1', config: { code: 'export function transformEvent() { return null; }' } }]),
          ],
        },
      ],
    };
    expect(configError(document).message).toContain(
      'sources[0].destinations[1].transformations[0].versionId: version "v1" has different code at sources[0].destinations[0].transformations[0]',
    );
  });

  it('stops top-level code that loops or exhausts memory, in a throwaway isolate', () => {
    const check = (code: string) => () => checkTransformationCode(code, 'v1', TEST_LIMITS);
    const looping = check('while (true) {} export function transformEvent(e) { return e; }');
    expect(looping).toThrow(TransformationCodeError);
    expect(looping).toThrow(`its top-level code timed out after ${TEST_LIMITS.timeoutMs} ms`);
    expect(check('const hoard = []; for (;;) hoard.push(new Array(100000).fill(1)); export function transformEvent(e) { return e; }')).toThrow(
      `its top-level code ran out of memory (limit ${TEST_LIMITS.memoryMb} MB)`,
    );
    expect(checkTransformationCode(PASS_THROUGH, 'v1', TEST_LIMITS)).toBe('event');
  });

  it('is only checked for shape where nothing runs it: the gateway routes without compiling or loading isolated-vm', () => {
    const broken = workspaceWith([{ versionId: 'v1', config: { code: 'export function transformEvent(event) { return event' } }]);
    const routed = parseWorkspace(broken, 'test.json');
    expect(routed.destination('src', 'transformed')).toMatchObject({ transformation: undefined, transformations: [{ versionId: 'v1' }] });
    expect(() => parseWorkspace(workspaceWith([{ config: {} }]), 'test.json')).toThrow('sources[0].destinations[1].transformations[0].versionId');

    // The built gateway, loading a workspace with a transformation, in a fresh process.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-gateway-ut-'));
    try {
      const file = path.join(dir, 'workspace.json');
      fs.writeFileSync(file, JSON.stringify(broken));
      const script = `
        require(${JSON.stringify(path.join(PROJECT_ROOT, 'dist', 'api', 'server.js'))});
        const { loadWorkspace } = require(${JSON.stringify(path.join(PROJECT_ROOT, 'dist', 'config', 'workspace.js'))});
        loadWorkspace(${JSON.stringify(file)});
        console.log(JSON.stringify(Object.keys(require.cache).filter((m) => m.includes('isolated-vm'))));`;
      const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' });
      expect(JSON.parse(out)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
