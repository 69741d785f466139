/**
 * The worker's housekeeping, on timers: the log's partitions ahead of time, log retention, and old
 * delivery progress. Each job logs what it did and keeps going when it fails.
 */
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { DeliveryProgress } from '../activities/deliver/progress';
import { dropExpiredPartitions, ensurePartitions } from '../log/partitions';

export interface MaintenanceOptions {
  readonly pool: Pool;
  readonly progress: DeliveryProgress;
  readonly logger: Logger;
  /** FERRY_LOG_RETENTION_DAYS. */
  readonly retentionDays: number;
  /** @default 1 hour */
  readonly everyMs?: number;
}

export function startMaintenance({ pool, progress, logger, retentionDays, everyMs = 3_600_000 }: MaintenanceOptions): { stop(): void } {
  const run = async () => {
    try {
      const created = await ensurePartitions(pool);
      if (created.length > 0) logger.info({ created }, 'log partitions created');
      const { dropped, kept } = await dropExpiredPartitions(pool, { retentionDays });
      if (dropped.length > 0) logger.info({ dropped, retentionDays }, 'log partitions past retention dropped');
      for (const { name, why } of kept) logger.warn({ partition: name, retentionDays }, `log partition kept past retention: ${why}`);
      const removed = await progress.cleanup();
      if (removed > 0) logger.debug({ removed }, 'old delivery progress removed');
    } catch (err) {
      logger.warn({ err }, 'log maintenance failed; will try again');
    }
  };
  void run();
  const timer = setInterval(() => void run(), everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
