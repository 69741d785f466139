/**
 * `ferry`, the operator's CLI: the pipeline's status, degraded mode, pausing and resuming
 * destinations, and the users stuck on one. It talks to the supervisor workflow through Temporal
 * (ops/supervisorClient.ts), the same operations the gateway's admin API offers.
 *
 *   ferry status [--json]
 *   ferry degrade [--reason TEXT] [--json]
 *   ferry recover [--json]
 *   ferry pause (--destination ID... | --all) [--reason TEXT] [--json]
 *   ferry resume (--destination ID... | --all) [--json]
 *   ferry stuck --destination ID [--limit N] [--json]
 *   ferry replay | redrive | job | cancel | reprocess …   (cli/replayCommands.ts)
 *
 * Run it as `npx ferry …` (bin/ferry.js, after `npm run build`) or `npm run -s ferry -- …`.
 * buildProgram()/runCli() take their I/O and the operations as arguments, so tests drive the CLI
 * in-process; main() is the real entry point.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { cliEnvSchema, parseEnv, type CliEnv } from '../config/env';
import { ConfigError } from '../config/errors';
import { isUnavailableError } from '../db/unavailable';
import { SupervisorUnavailableError, UnknownDestinationError, type FerryStatus, type SupervisorOps } from '../ops/supervisorClient';
import { JobNotFoundError, ReplayRequestError, UnknownSourceError, type ReplayOps } from '../ops/replayClient';
import { connectOps, type ConnectedOps } from './connect';
import { addReplayCommands, JobUnfinishedError } from './replayCommands';
import { palette, renderStatus, renderStuck, type Palette } from './format';

/** The CLI's exit codes; scripts may rely on them. */
export const EXIT_CODES = {
  ok: 0,
  /** Anything not foreseen below (a bug, or an answer the CLI did not expect). */
  error: 1,
  /** Bad arguments (commander's refusals, or pause/resume without a target), or a bad setting in the environment or workspace file. */
  usage: 2,
  /** A destination, source or job id that does not exist; nothing was changed. */
  unknownDestination: 3,
  /** The supervisor, Temporal or the database did not answer; nothing is known to have changed. */
  unavailable: 4,
  /** A followed replay or re-drive was cancelled, failed or was terminated. */
  jobUnfinished: 5,
} as const;
export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

const EXIT_CODES_HELP = `
Exit codes:
  ${EXIT_CODES.ok}  ok
  ${EXIT_CODES.error}  unexpected error
  ${EXIT_CODES.usage}  usage error (bad arguments, or a bad environment variable or workspace file)
  ${EXIT_CODES.unknownDestination}  unknown destination, source or job (nothing was changed)
  ${EXIT_CODES.unavailable}  supervisor, Temporal or database unavailable
  ${EXIT_CODES.jobUnfinished}  the replay or re-drive followed was cancelled, failed or terminated

Environment: TEMPORAL_ADDRESS (127.0.0.1:7233), TEMPORAL_NAMESPACE (default), FERRY_TASK_QUEUE
(ferry-pipeline), FERRY_WORKSPACE_CONFIG (the demo workspace), DATABASE_URL (optional: the backlog),
NO_COLOR (no colours), FERRY_DEBUG (stack traces on errors).`;

/** Where the CLI writes: process.stdout/stderr, or a test's buffer. */
export interface Output {
  write(text: string): unknown;
}

export interface CliDeps {
  /** Connects on first use, so that `--help` and usage errors need no Temporal. */
  readonly ops: () => Promise<SupervisorOps>;
  /** Replays, re-drives and resets; connects on first use. @default unavailable: those commands fail */
  readonly replays?: () => Promise<ReplayOps>;
  readonly stdout: Output;
  readonly stderr: Output;
  /** Whether stdout is a terminal: colours (unless NO_COLOR is set) and a progress line for slow listings. */
  readonly isTty: boolean;
  /** For NO_COLOR and FERRY_DEBUG. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** Whether the operations read the backlog (the database is configured); the table says "unknown" otherwise. @default true */
  readonly backlogKnown?: boolean;
}

const DEFAULT_STUCK_LIMIT = 100;
const MAX_STUCK_LIMIT = 1_000;
/** A stuck listing that takes longer than this says so on stderr (terminals only). */
const PROGRESS_AFTER_MS = 1_000;

interface JsonOption {
  readonly json?: boolean;
}
interface TargetOptions extends JsonOption {
  readonly destination?: string[];
  readonly all?: boolean;
}

/** The `ferry` program; parse with `parseAsync(argv, { from: 'user' })`, or use runCli(). */
export function buildProgram(deps: CliDeps): Command {
  const env = deps.env ?? process.env;
  const colours: Palette = palette(deps.isTty && !env.NO_COLOR);
  const now = deps.now ?? (() => new Date());
  let connected: Promise<SupervisorOps> | undefined;
  const ops = () => (connected ??= deps.ops());

  const printStatus = (status: FerryStatus, { json }: JsonOption) => {
    deps.stdout.write(json ? `${JSON.stringify(status, null, 2)}\n` : renderStatus(status, { colours, now: now(), backlogKnown: deps.backlogKnown ?? true }));
  };

  const program = new Command('ferry')
    .description('Operate a Ferry pipeline: its mode, its destinations, and the users stuck on them.')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void deps.stdout.write(text),
      writeErr: (text) => void deps.stderr.write(text),
      // One line: `ferry: <what is wrong> (see --help)`.
      outputError: (text, write) => write(`ferry: ${oneLine(text.replace(/^error:\s*/, ''))} (see --help)\n`),
      getOutHasColors: () => deps.isTty && !env.NO_COLOR,
      getErrHasColors: () => false,
    })
    .addHelpText('after', EXIT_CODES_HELP);

  program
    .command('status')
    .description('show the mode, each destination (state, who set it and why, next probe, recent attempts and failures), the backlog and the relays')
    .option('--json', 'print the status as one JSON object')
    .action(async (options: JsonOption) => {
      printStatus(await (await ops()).status(), options);
    });

  program
    .command('degrade')
    .description('enter degraded mode: events are still stored, none is forwarded, until `ferry recover`')
    .option('--reason <text>', 'why, shown in the status')
    .option('--json', 'print the resulting status as one JSON object')
    .action(async (options: JsonOption & { reason?: string }) => {
      printStatus(await (await ops()).degrade(options.reason), options);
    });

  program
    .command('recover')
    .description('leave degraded mode: forwarding resumes')
    .option('--json', 'print the resulting status as one JSON object')
    .action(async (options: JsonOption) => {
      printStatus(await (await ops()).recover(), options);
    });

  program
    .command('pause')
    .description("pause destinations: their events are kept in each user's order and delivered after `ferry resume`")
    .addOption(new Option('--destination <id...>', 'destination id(s) to pause').conflicts('all'))
    .option('--all', 'every destination of the workspace')
    .option('--reason <text>', 'why, shown in the status')
    .option('--json', 'print the resulting status as one JSON object')
    .action(async (options: TargetOptions & { reason?: string }, command: Command) => {
      const destinations = targets(options, command);
      printStatus(await (await ops()).pause(destinations, options.reason), options);
    });

  program
    .command('resume')
    .description('resume paused destinations: their waiting events are delivered, oldest first')
    .addOption(new Option('--destination <id...>', 'destination id(s) to resume').conflicts('all'))
    .option('--all', 'every destination of the workspace')
    .option('--json', 'print the resulting status as one JSON object')
    .action(async (options: TargetOptions, command: Command) => {
      const destinations = targets(options, command);
      printStatus(await (await ops()).resume(destinations), options);
    });

  program
    .command('stuck')
    .description('list the users whose delivery to a destination is retrying or paused')
    .requiredOption('--destination <id>', 'the destination id')
    .option('--limit <n>', `most users to list (1-${MAX_STUCK_LIMIT})`, parseLimit, DEFAULT_STUCK_LIMIT)
    .option('--json', 'print { destinationId, users } as one JSON object')
    .action(async (options: JsonOption & { destination: string; limit: number }) => {
      const supervisor = await ops();
      // A long listing says it is working, on the terminal only (stdout stays the listing).
      const progress = deps.isTty && !options.json ? setTimeout(() => deps.stderr.write(`listing users stuck on ${options.destination}…\n`), PROGRESS_AFTER_MS) : undefined;
      const users = await supervisor.stuck(options.destination, { limit: options.limit }).finally(() => clearTimeout(progress));
      deps.stdout.write(
        options.json
          ? `${JSON.stringify({ destinationId: options.destination, users }, null, 2)}\n`
          : renderStuck(options.destination, users, options.limit, { colours, now: now() }),
      );
    });

  let replaysConnected: Promise<ReplayOps> | undefined;
  addReplayCommands(program, {
    replays: () => (replaysConnected ??= deps.replays ? deps.replays() : Promise.reject(new SupervisorUnavailableError('replays are not available here'))),
    stdout: deps.stdout,
    stderr: deps.stderr,
    isTty: deps.isTty,
    colours,
  });

  for (const command of program.commands) command.addHelpText('after', EXIT_CODES_HELP);
  return program;
}

/** Runs `ferry <argv…>` and returns its exit code; every error is reported on stderr in one line. */
export async function runCli(argv: readonly string[], deps: CliDeps): Promise<ExitCode> {
  try {
    await buildProgram(deps).parseAsync([...argv], { from: 'user' });
    return EXIT_CODES.ok;
  } catch (err) {
    const code = exitCodeOf(err);
    // Commander has already written its message (or the help).
    if (!(err instanceof CommanderError)) report(err, code, deps);
    return code;
  }
}

/** The exit code an error stands for. */
export function exitCodeOf(err: unknown): ExitCode {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.usage;
  if (err instanceof UnknownDestinationError || err instanceof UnknownSourceError || err instanceof JobNotFoundError) return EXIT_CODES.unknownDestination;
  if (err instanceof ReplayRequestError) return EXIT_CODES.usage;
  if (err instanceof JobUnfinishedError) return EXIT_CODES.jobUnfinished;
  if (err instanceof SupervisorUnavailableError || isUnavailableError(err)) return EXIT_CODES.unavailable;
  if (err instanceof ConfigError) return EXIT_CODES.usage;
  return EXIT_CODES.error;
}

function report(err: unknown, code: ExitCode, deps: CliDeps): void {
  const message = err instanceof Error ? err.message : String(err);
  const prefix = code === EXIT_CODES.error ? 'unexpected error: ' : code === EXIT_CODES.unavailable && !(err instanceof SupervisorUnavailableError) ? 'the database is unavailable: ' : '';
  deps.stderr.write(`ferry: ${prefix}${oneLine(message)}\n`);
  if ((deps.env ?? process.env).FERRY_DEBUG) deps.stderr.write(`${describeChain(err)}\n`);
}

function describeChain(err: unknown): string {
  const parts: string[] = [];
  for (let e = err, depth = 0; e !== undefined && depth < 10; e = e instanceof Error ? e.cause : undefined, depth++) {
    parts.push(e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e));
  }
  return parts.join('\ncaused by: ');
}

function oneLine(text: string): string {
  return text
    .trim()
    .replace(/:\s*\n\s*/g, ': ')
    .replace(/\s*\n\s*/g, '; ');
}

function targets(options: TargetOptions, command: Command): string[] | 'all' {
  if (options.all) return 'all';
  if (options.destination?.length) return options.destination;
  return command.error(`${command.name()} needs --destination ID... or --all`, { exitCode: EXIT_CODES.usage, code: 'ferry.missingTarget' });
}

function parseLimit(value: string): number {
  const limit = Number(value);
  if (!/^\d+$/.test(value) || limit < 1 || limit > MAX_STUCK_LIMIT) throw new InvalidArgumentError(`must be a whole number from 1 to ${MAX_STUCK_LIMIT}`);
  return limit;
}

/** The real entry point (bin/ferry.js): the environment, Temporal, the database, then the command. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  // Parsed once, up front; a bad value fails the first command that connects, not `--help`.
  let env: CliEnv | undefined;
  let envError: unknown;
  try {
    env = parseEnv(cliEnvSchema);
  } catch (err) {
    envError = err;
  }
  let connected: Promise<ConnectedOps> | undefined;
  const connect = () => {
    if (!env) return Promise.reject(envError);
    connected ??= connectOps(env);
    return connected;
  };
  const code = await runCli(argv, {
    ops: async () => (await connect()).ops,
    replays: async () => (await connect()).replays,
    stdout: process.stdout,
    stderr: process.stderr,
    isTty: process.stdout.isTTY === true,
    backlogKnown: env?.DATABASE_URL !== undefined,
  });
  await connected?.then((c) => c.close(), () => undefined);
  process.exitCode = code;
  // Should a closed connection still hold the event loop, do not hang: stdout and stderr are synchronous here.
  setTimeout(() => process.exit(code), 2_000).unref();
}

if (require.main === module) void main();
