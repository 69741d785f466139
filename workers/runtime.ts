import { DefaultLogger, type LogLevel, Runtime } from '@temporalio/worker';
import type { Logger } from 'pino';

export interface RuntimeOptions {
  /** The SDK's own log level. INFO narrates worker state changes and the bundle build; WARN and up is what operators need. @default WARN */
  readonly level?: LogLevel;
  /**
   * host:port where the SDK serves its worker metrics for Prometheus (FERRY_TEMPORAL_METRICS_ADDRESS),
   * with the temporal_ prefix and seconds for durations. @default none: not exported
   */
  readonly metricsAddress?: string;
}

/**
 * Installs the process's Temporal runtime, once, before any connection or worker: routes the SDK's log
 * through pino, so the worker writes one JSON log stream, and exports its metrics when asked. The
 * core's exporter binds its own listener, separate from Ferry's /metrics, because it lives in Rust.
 */
export function installRuntime(logger: Logger, { level = 'WARN', metricsAddress }: RuntimeOptions = {}): void {
  const sdk = logger.child({ component: 'temporal-sdk' });
  Runtime.install({
    logger: new DefaultLogger(level, ({ level: entryLevel, message, meta }) => {
      const method = entryLevel === 'ERROR' ? 'error' : entryLevel === 'WARN' ? 'warn' : entryLevel === 'INFO' ? 'info' : 'debug';
      sdk[method](meta ?? {}, message);
    }),
    ...(metricsAddress
      ? { telemetryOptions: { metrics: { metricPrefix: 'temporal_', prometheus: { bindAddress: metricsAddress, useSecondsForDurations: true, countersTotalSuffix: true } } } }
      : {}),
  });
}
