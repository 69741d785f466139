/**
 * The `ferry` CLI (cli/ferry.ts) driven in-process against a supervisor kept in memory that really
 * changes state: what each command prints (tables for people, one JSON object with --json), what it
 * changes, and its exit codes and one-line errors.
 */
import { ConfigError } from '../../config/errors';
import { EXIT_CODES, runCli } from '../../cli/ferry';
import type { SupervisorOps } from '../../ops/supervisorClient';
import { MemoryOps, UNAVAILABLE_INTERNALS } from '../support/memoryOps';

const DESTINATIONS = ['hook-a', 'hook-b', 'warehouse'];
const NOW = new Date('2026-01-02T03:09:05.000Z');
/** Where every ANSI colour code starts. */
const ESC = '\u001b[';

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** How often the CLI asked for a connection. */
  readonly connects: number;
}

async function ferry(
  argv: string[],
  { ops = new MemoryOps(DESTINATIONS), isTty = false, env = {}, backlogKnown = true }: { ops?: SupervisorOps | (() => Promise<SupervisorOps>); isTty?: boolean; env?: Record<string, string>; backlogKnown?: boolean } = {},
): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  let connects = 0;
  const code = await runCli(argv, {
    ops: async () => {
      connects += 1;
      return typeof ops === 'function' ? ops() : ops;
    },
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    isTty,
    env,
    now: () => NOW,
    backlogKnown,
  });
  return { code, stdout, stderr, connects };
}

const lines = (text: string) => text.split('\n').filter((line) => line.length > 0);

describe('ferry status', () => {
  it('prints the mode, a table of destinations, the backlog and the relays', async () => {
    const { code, stdout, stderr } = await ferry(['status']);
    expect(code).toBe(EXIT_CODES.ok);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^Mode\s+normal$/m);
    expect(stdout).toMatch(/^Backlog\s+no events waiting to be relayed$/m);
    expect(stdout).toMatch(/^Relays\s+1 live$/m);
    const table = lines(stdout).filter((line) => /^(DESTINATION|hook-|warehouse)/.test(line));
    expect(table).toHaveLength(4);
    expect(table[0]).toMatch(/^DESTINATION\s+STATE\s+BY\s+SINCE\s+NEXT PROBE\s+ATTEMPTS\s+FAILURES\s+REASON$/);
    expect(table[1]).toMatch(/^hook-a\s+active\s+-\s+-\s+-\s+12\s+0\s+-$/);
    // Aligned: every row's STATE starts in the same column.
    const stateColumn = table[0]!.indexOf('STATE');
    for (const row of table.slice(1)) expect(row.slice(stateColumn)).toMatch(/^active /);
  });

  it('--json prints exactly one JSON object: the FerryStatus', async () => {
    const { code, stdout } = await ferry(['status', '--json']);
    expect(code).toBe(0);
    const status = JSON.parse(stdout) as { mode: string; destinations: Array<{ id: string; state: string }> };
    expect(status.mode).toBe('normal');
    expect(status.destinations.map(({ id, state }) => ({ id, state }))).toEqual(DESTINATIONS.map((id) => ({ id, state: 'active' })));
    expect(status).toMatchObject({ backlog: { unrelayedRows: 0, relays: 1 }, recentSelfFailures: 0, recentWorkerStarts: 0 });
  });

  it('says the backlog and relays are unknown when they were not read (no DATABASE_URL)', async () => {
    const { stdout } = await ferry(['status'], { backlogKnown: false });
    expect(stdout).toMatch(/^Backlog\s+unknown \(set DATABASE_URL to read it\)$/m);
    expect(stdout).toMatch(/^Relays\s+unknown/m);
  });

  it('shows who paused a destination, when and why', async () => {
    const ops = new MemoryOps(DESTINATIONS, () => new Date('2026-01-02T03:04:05.000Z'));
    await ops.pause(['warehouse'], 'schema change');
    const { stdout } = await ferry(['status'], { ops });
    expect(stdout).toMatch(/^warehouse\s+paused\s+operator\s+5m 0s ago\s+-\s+0\s+0\s+schema change$/m);
  });
});

describe('commands that change the pipeline, and print the resulting status', () => {
  it('degrade --reason, then recover', async () => {
    const ops = new MemoryOps(DESTINATIONS);
    const degraded = await ferry(['degrade', '--reason', 'warehouse migration'], { ops });
    expect(degraded.code).toBe(0);
    expect(ops.mode).toBe('degraded');
    expect(degraded.stdout).toMatch(/^Mode\s+degraded\s+by operator, .*reason: warehouse migration$/m);

    const recovered = await ferry(['recover', '--json'], { ops });
    expect(recovered.code).toBe(0);
    expect(ops.mode).toBe('normal');
    expect(JSON.parse(recovered.stdout)).toMatchObject({ mode: 'normal' });
    expect(ops.calls).toEqual(['degrade(warehouse migration)', 'recover()']);
  });

  it('pause --destination ID pauses that one destination', async () => {
    const ops = new MemoryOps(DESTINATIONS);
    const { code, stdout } = await ferry(['pause', '--destination', 'hook-b', '--reason', 'vendor outage'], { ops });
    expect(code).toBe(0);
    expect([...ops.paused.keys()]).toEqual(['hook-b']);
    expect(ops.paused.get('hook-b')?.reason).toBe('vendor outage');
    expect(stdout).toMatch(/^hook-b\s+paused\s+operator\s+.*vendor outage$/m);
    expect(stdout).toMatch(/^hook-a\s+active/m);
  });

  it.each([
    [['--destination', 'hook-a', 'warehouse']],
    [['--destination', 'hook-a', '--destination', 'warehouse']],
  ])('pause takes several destinations: %j', async (args) => {
    const ops = new MemoryOps(DESTINATIONS);
    expect((await ferry(['pause', ...args], { ops })).code).toBe(0);
    expect([...ops.paused.keys()].sort()).toEqual(['hook-a', 'warehouse']);
  });

  it('pause --all and resume --all', async () => {
    const ops = new MemoryOps(DESTINATIONS);
    const paused = await ferry(['pause', '--all', '--json'], { ops });
    expect(paused.code).toBe(0);
    expect([...ops.paused.keys()].sort()).toEqual(DESTINATIONS);
    expect((JSON.parse(paused.stdout) as { destinations: Array<{ state: string }> }).destinations.map((d) => d.state)).toEqual(['paused', 'paused', 'paused']);

    const resumed = await ferry(['resume', '--all'], { ops });
    expect(resumed.code).toBe(0);
    expect(ops.paused.size).toBe(0);
    expect(resumed.stdout).not.toMatch(/paused/);
  });

  it('resume --destination ID resumes only that one', async () => {
    const ops = new MemoryOps(DESTINATIONS);
    await ops.pause('all');
    const { code } = await ferry(['resume', '--destination', 'hook-a'], { ops });
    expect(code).toBe(0);
    expect([...ops.paused.keys()].sort()).toEqual(['hook-b', 'warehouse']);
  });
});

describe('ferry stuck', () => {
  const users = [
    { workflowId: 'ferry/src/user:u1', sourceId: 'src', userKey: 'user:u1', startedAt: '2026-01-02T03:00:05.000Z' },
    { workflowId: 'ferry/src/anon:a2', sourceId: 'src', userKey: 'anon:a2', startedAt: '2026-01-02T02:09:05.000Z' },
  ];

  it('lists the stuck users in a table', async () => {
    const ops = new MemoryOps(DESTINATIONS);
    ops.stuckUsers.set('hook-a', users);
    const { code, stdout } = await ferry(['stuck', '--destination', 'hook-a'], { ops });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^2 users stuck on hook-a/m);
    expect(stdout).toMatch(/^WORKFLOW ID\s+SOURCE\s+USER\s+STARTED$/m);
    expect(stdout).toMatch(/^ferry\/src\/user:u1\s+src\s+user:u1\s+9m 0s ago$/m);
    expect(stdout).toMatch(/^ferry\/src\/anon:a2\s+src\s+anon:a2\s+1h 0m ago$/m);
    expect(ops.calls).toEqual(['stuck(hook-a,100)']);
  });

  it('--json prints { destinationId, users }, and --limit caps the listing', async () => {
    const ops = new MemoryOps(DESTINATIONS);
    ops.stuckUsers.set('hook-a', users);
    const { code, stdout } = await ferry(['stuck', '--destination', 'hook-a', '--limit', '1', '--json'], { ops });
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ destinationId: 'hook-a', users: [users[0]] });
  });

  it('says when nobody is stuck', async () => {
    const { code, stdout } = await ferry(['stuck', '--destination', 'warehouse']);
    expect(code).toBe(0);
    expect(stdout).toBe('No user is stuck on warehouse.\n');
  });
});

describe('exit codes and errors', () => {
  it('an unknown destination: exit 3, one line on stderr, nothing changed', async () => {
    const ops = new MemoryOps(DESTINATIONS);
    const ran = await ferry(['pause', '--destination', 'hook-a', 'nope'], { ops });
    expect(ran.code).toBe(EXIT_CODES.unknownDestination);
    expect(ran.code).toBe(3);
    expect(ran.stdout).toBe('');
    expect(ran.stderr).toBe('ferry: unknown destination "nope": it is not in the workspace\n');
    expect(ops.paused.size).toBe(0);
    expect((await ferry(['stuck', '--destination', 'nope'], { ops })).code).toBe(3);
    expect((await ferry(['resume', '--destination', 'nope', '--json'], { ops })).code).toBe(3);
  });

  it.each([[['status']], [['status', '--json']], [['degrade']], [['pause', '--all']], [['stuck', '--destination', 'hook-a']]])(
    'an unreachable supervisor: exit 4 and one line on stderr (%j)',
    async (argv) => {
      const ops = new MemoryOps(DESTINATIONS);
      ops.unavailable = true;
      const ran = await ferry(argv, { ops });
      expect(ran.code).toBe(EXIT_CODES.unavailable);
      expect(ran.code).toBe(4);
      expect(ran.stdout).toBe('');
      expect(lines(ran.stderr)).toEqual([`ferry: the supervisor did not answer: ${UNAVAILABLE_INTERNALS}`]);
      expect(ran.stderr).not.toMatch(/\bat .*\.ts:\d+/);
      expect(ops.mode).toBe('normal');
    },
  );

  it('Temporal or the database refusing the connection is exit 4 too', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:54329'), { code: 'ECONNREFUSED' });
    const ran = await ferry(['status'], { ops: () => Promise.reject(refused) });
    expect(ran.code).toBe(4);
    expect(ran.stderr).toBe('ferry: the database is unavailable: connect ECONNREFUSED 127.0.0.1:54329\n');
  });

  it.each([
    ['pause with neither --destination nor --all', ['pause']],
    ['resume with neither --destination nor --all', ['resume', '--json']],
    ['pause with both --destination and --all', ['pause', '--destination', 'hook-a', '--all']],
    ['stuck without --destination', ['stuck']],
    ['stuck with a bad --limit', ['stuck', '--destination', 'hook-a', '--limit', 'ten']],
    ['stuck with --limit 0', ['stuck', '--destination', 'hook-a', '--limit', '0']],
    ['an unknown command', ['explode']],
    ['an unknown option', ['status', '--yaml']],
    ['an option without its value', ['degrade', '--reason']],
    ['an excess argument', ['status', 'now']],
  ])('a usage error: %s → exit 2, one line on stderr, no connection', async (_what, argv) => {
    const ops = new MemoryOps(DESTINATIONS);
    const ran = await ferry(argv, { ops });
    expect(ran.code).toBe(EXIT_CODES.usage);
    expect(ran.code).toBe(2);
    expect(ran.stdout).toBe('');
    expect(lines(ran.stderr)).toHaveLength(1);
    expect(ran.stderr).toMatch(/^ferry: .+\(see --help\)\n$/);
    expect(ran.connects).toBe(0);
    expect(ops.calls).toEqual([]);
  });

  it('pause without a target says what it needs', async () => {
    expect((await ferry(['pause'])).stderr).toBe('ferry: pause needs --destination ID... or --all (see --help)\n');
  });

  it('a bad environment or workspace file is a usage error (exit 2), in one line', async () => {
    const ran = await ferry(['status'], { ops: () => Promise.reject(new ConfigError('invalid environment:\n  TEMPORAL_ADDRESS="": must not be empty', 'TEMPORAL_ADDRESS')) });
    expect(ran.code).toBe(2);
    expect(ran.stderr).toBe('ferry: invalid environment: TEMPORAL_ADDRESS="": must not be empty\n');
  });

  it('an unexpected error: exit 1, one line, and the stack only with FERRY_DEBUG', async () => {
    const broken = { ...new MemoryOps(DESTINATIONS), status: () => Promise.reject(new TypeError("Cannot read properties of undefined (reading 'mode')")) } as unknown as SupervisorOps;
    const ran = await ferry(['status'], { ops: broken });
    expect(ran.code).toBe(EXIT_CODES.error);
    expect(ran.stderr).toBe("ferry: unexpected error: Cannot read properties of undefined (reading 'mode')\n");

    const debug = await ferry(['status'], { ops: broken, env: { FERRY_DEBUG: '1' } });
    expect(debug.code).toBe(1);
    expect(lines(debug.stderr)[0]).toBe("ferry: unexpected error: Cannot read properties of undefined (reading 'mode')");
    expect(debug.stderr).toMatch(/^TypeError: .*\n\s+at /m);
  });

  it('--help lists the commands and the exit codes, exit 0, without connecting', async () => {
    const ran = await ferry(['--help']);
    expect(ran.code).toBe(0);
    expect(ran.connects).toBe(0);
    for (const command of ['status', 'degrade', 'recover', 'pause', 'resume', 'stuck']) expect(ran.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
    expect(ran.stdout).toMatch(/Exit codes:\n\s+0\s+ok\n\s+1\s+unexpected error\n\s+2\s+usage error.*\n\s+3\s+unknown destination.*\n\s+4\s+supervisor, Temporal or database unavailable/);

    const pause = await ferry(['pause', '--help']);
    expect(pause.code).toBe(0);
    expect(pause.stdout).toMatch(/--destination <id\.\.\.>/);
    expect(pause.stdout).toMatch(/--all/);
    expect(pause.stdout).toMatch(/Exit codes:/);
  });

  it('no command at all is a usage error that shows the help on stderr', async () => {
    const ran = await ferry([]);
    expect(ran.code).toBe(2);
    expect(ran.stdout).toBe('');
    expect(ran.stderr).toMatch(/Usage: ferry/);
  });
});

describe('colour', () => {
  it('none when stdout is not a terminal', async () => {
    const ops = new MemoryOps(DESTINATIONS);
    await ops.pause(['hook-a']);
    const ran = await ferry(['status'], { ops, isTty: false });
    expect(ran.stdout).not.toContain(ESC);
    expect((await ferry(['pause', '--all'], { ops, isTty: false })).stdout).not.toContain(ESC);
  });

  it('ANSI colours on a terminal, with the table still aligned', async () => {
    const ops = new MemoryOps(DESTINATIONS);
    await ops.pause(['hook-a']);
    const ran = await ferry(['status'], { ops, isTty: true });
    expect(ran.stdout).toContain(ESC);
    expect(ran.stdout).toContain('\u001b[31mpaused\u001b[39m');
    expect(ran.stdout).toContain('\u001b[32mactive\u001b[39m');
    // eslint-disable-next-line no-control-regex -- stripping the ANSI codes under test
    const plain = ran.stdout.replace(/\u001b\[\d+m/g, '');
    const table = lines(plain).filter((line) => /^(DESTINATION|hook-|warehouse)/.test(line));
    const stateColumn = table[0]!.indexOf('STATE');
    for (const row of table.slice(1)) expect(row.slice(stateColumn)).toMatch(/^(active|paused) /);
  });

  it('none on a terminal when NO_COLOR is set, nor in --json', async () => {
    expect((await ferry(['status'], { isTty: true, env: { NO_COLOR: '1' } })).stdout).not.toContain(ESC);
    expect((await ferry(['status', '--json'], { isTty: true })).stdout).not.toContain(ESC);
  });
});
