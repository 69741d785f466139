import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserTransformationSandboxes } from '../../../transformations/pool';
import { runUserTransformation } from '../../../transformations/run';
import { CONTEXT, TEST_LIMITS, trackEvent, transformationOf } from './support';

/**
 * Each attempt either throws inside the isolate (the event is aborted) or reports what it reached in
 * `properties.reached`; had it reached the host, it would also have written the marker file.
 */
describe('sandbox escape attempts', () => {
  const sandboxes = new UserTransformationSandboxes(TEST_LIMITS);
  const marker = path.join(os.tmpdir(), `ferry-escape-${process.pid}`);
  const secret = `secret-${process.pid}`;
  beforeAll(() => {
    process.env.FERRY_ESCAPE_TEST_SECRET = secret;
  });
  afterAll(() => {
    sandboxes.dispose();
    delete process.env.FERRY_ESCAPE_TEST_SECRET;
    fs.rmSync(marker, { force: true });
  });

  async function attempt(body: string) {
    const code = `
      export async function transformEvent(event, metadata) {
        const write = (p) => p.mainModule.require('fs').writeFileSync(${JSON.stringify(marker)}, 'escaped');
        ${body}
      }`;
    const [result] = await runUserTransformation(sandboxes, transformationOf(code, 'escape'), [trackEvent('m1')], CONTEXT);
    expect(fs.existsSync(marker)).toBe(false);
    return result!.kind === 'aborted' ? { aborted: result!.reason } : { reached: result!.events[0]!.properties!.reached };
  }

  it.each([
    ['process', 'write(process);', 'process is not defined'],
    ['require', "require('fs').writeFileSync('x', 'y');", 'require is not defined'],
    ['globalThis.constructor.constructor', "write(globalThis.constructor.constructor('return process')());", 'process is not defined'],
    ['this.constructor.constructor', "write(this.constructor.constructor('return process')());", "Cannot read properties of undefined (reading 'constructor')"],
    ['the event’s constructor', "write(event.constructor.constructor('return process')());", 'process is not defined'],
    ['the metadata function’s constructor', "write(metadata.constructor('return process')());", 'process is not defined'],
    ['sloppy-mode Function returning its this', "write(Function('return this')().process);", "Cannot read properties of undefined (reading 'mainModule')"],
    ['a dynamic import', "const fsModule = await import('fs'); fsModule.writeFileSync('x', 'y');", 'threw: Not supported'],
    ['fetch', "await fetch('http://127.0.0.1:9/');", 'fetch is not defined'],
    ['a timer', 'setTimeout(() => {}, 0);', 'setTimeout is not defined'],
    ['eval of process', "write(eval('process'));", 'process is not defined'],
  ])('%s: aborts inside the isolate', async (_, body, message) => {
    const outcome = await attempt(body);
    expect(outcome).toEqual({ aborted: expect.stringContaining(message) });
  });

  it('sees no host global, module or environment variable', async () => {
    const outcome = await attempt(`
      const names = Object.getOwnPropertyNames(globalThis);
      const host = ['process', 'require', 'module', 'Buffer', 'fetch', 'setTimeout', 'setImmediate', 'global', '__dirname', 'XMLHttpRequest', 'WebSocket'];
      return { ...event, properties: { reached: {
        hostGlobals: host.filter((n) => names.includes(n) || typeof globalThis[n] !== 'undefined'),
        globals: JSON.stringify(names.map((n) => { try { return String(globalThis[n]); } catch { return ''; } })),
      } } };`);
    const reached = outcome.reached as { hostGlobals: string[]; globals: string };
    expect(reached.hostGlobals).toEqual([]);
    expect(reached.globals).not.toContain(secret);
    expect(reached.globals).not.toContain('FERRY_');
  });

  it('rejects a static import when the config loads', () => {
    expect(() => transformationOf(`import fs from 'fs'; export function transformEvent(e) { return e; }`)).toThrow(
      'the code imports "fs"; transformations cannot import modules',
    );
  });

  it('cannot reach the host through metadata or the event, which are plain copies', async () => {
    const outcome = await attempt(`
      const meta = metadata(event);
      const found = [event, meta, metadata].map((v) => Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === Function.prototype);
      return { ...event, properties: { reached: found } };`);
    expect(outcome).toEqual({ reached: [true, true, true] });
  });
});
