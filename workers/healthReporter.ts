/**
 * Sends the supervisor this worker's counts every few seconds, starting it if it is not running. One
 * signal per worker per interval, whatever the load: the supervisor's input never grows with traffic.
 */
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { HealthCounters } from '../control/health';
import { healthSignal, supervisorTaskQueue, supervisorWorkflowId, SUPERVISOR_WORKFLOW_TYPE, type SupervisorArgs } from '../workflows/supervisorDefinitions';

export interface HealthReporterOptions {
  readonly client: Client;
  readonly taskQueue: string;
  readonly counters: HealthCounters;
  /** Unique among running workers. */
  readonly workerId: string;
  readonly logger: Logger;
  /** @default 5000 */
  readonly intervalMs?: number;
}

export class HealthReporter {
  /** A start the supervisor has not seen counts as a (re)start: a crash loop shows as many of them. */
  private readonly startedAt = Date.now();
  private timer?: NodeJS.Timeout;
  private sending: Promise<void> = Promise.resolve();
  private failing = 0;

  constructor(private readonly options: HealthReporterOptions) {}

  start(): void {
    this.report();
    this.timer = setInterval(() => this.report(), this.options.intervalMs ?? 5_000);
  }

  /** Sends what is left, so a clean shutdown loses no counts. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sending;
    this.report();
    await this.sending;
  }

  private report(): void {
    this.sending = this.sending.then(async () => {
      const report = this.options.counters.drain(this.options.workerId, this.startedAt);
      try {
        const args: SupervisorArgs = {};
        await this.options.client.withDeadline(Date.now() + 10_000, () =>
          this.options.client.workflow.signalWithStart(SUPERVISOR_WORKFLOW_TYPE, {
            workflowId: supervisorWorkflowId(this.options.taskQueue),
            taskQueue: supervisorTaskQueue(this.options.taskQueue),
            args: [args],
            signal: healthSignal,
            signalArgs: [report],
          }),
        );
        this.failing = 0;
      } catch (err) {
        this.options.counters.restore(report);
        this.failing += 1;
        if (this.failing === 1 || this.failing % 12 === 0) this.options.logger.warn({ err }, 'could not report to the supervisor; the counts go with the next report');
      }
    });
  }
}
