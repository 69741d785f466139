import { DefaultLogger, type LogLevel, Runtime } from '@temporalio/worker';
import type { Logger } from 'pino';

/**
 * Routes the Temporal SDK's own log through pino, so the worker writes one JSON log stream. Its INFO
 * level narrates worker state changes and the workflow bundle build; WARN and up is what operators need.
 */
export function installRuntimeLogger(logger: Logger, level: LogLevel = 'WARN'): void {
  const sdk = logger.child({ component: 'temporal-sdk' });
  Runtime.install({
    logger: new DefaultLogger(level, ({ level: entryLevel, message, meta }) => {
      const method = entryLevel === 'ERROR' ? 'error' : entryLevel === 'WARN' ? 'warn' : entryLevel === 'INFO' ? 'info' : 'debug';
      sdk[method](meta ?? {}, message);
    }),
  });
}
