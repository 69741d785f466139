/**
 * The gateway's Prometheus metrics, on a registry of their own (tests build as many as they like).
 * The gateway serves them on its HTTP port at /metrics.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { PIPELINE_MODES, type PipelineMode } from '../control/state';
import { BATCH_SIZE_BUCKETS, LATENCY_BUCKETS_SECONDS } from './buckets';

/** What the log writer records of each group commit. */
export interface LogWriteMetrics {
  /** Rows per transaction. */
  readonly batchRows: Histogram;
  /** From the INSERT's start to its commit (or failure). */
  readonly commitSeconds: Histogram<'outcome'>;
}

/** The mode and paused destinations, as /health reports them (api/mode.ts's ModeSource fits). */
export interface ModeReading {
  current(): PipelineMode | Promise<PipelineMode>;
  pausedDestinations?(): ReadonlyArray<{ readonly id: string }> | Promise<ReadonlyArray<{ readonly id: string }>>;
}

export interface GatewayMetricsOptions {
  /** Where the metrics are registered. @default a new registry */
  readonly registry?: Registry;
  /** Read at each scrape for ferry_mode and ferry_destination_paused. @default always normal, none paused */
  readonly mode?: ModeReading;
  /** Every destination of the workspace, so that an active one reads 0 rather than being absent. @default [] */
  readonly destinationIds?: readonly string[];
  /** Rows queued for the log writers, read at each scrape. @default always 0 */
  readonly logBacklog?: () => number;
}

export interface GatewayMetrics {
  readonly registry: Registry;
  /** By route pattern (not the raw path, which a client chooses), method and status. */
  readonly requests: Counter<'route' | 'method' | 'status'>;
  /** Request to answer, for the routes that accept events: the log commit is most of it. */
  readonly ingestSeconds: Histogram<'route'>;
  readonly eventsAccepted: Counter<'source'>;
  readonly log: LogWriteMetrics;
}

const NORMAL: ModeReading = { current: () => PIPELINE_MODES.normal };

export function createGatewayMetrics({ registry = new Registry(), mode = NORMAL, destinationIds = [], logBacklog = () => 0 }: GatewayMetricsOptions = {}): GatewayMetrics {
  const registers = [registry];
  collectDefaultMetrics({ register: registry, prefix: 'ferry_' });
  const metrics: GatewayMetrics = {
    registry,
    requests: new Counter({ name: 'ferry_http_requests_total', help: 'HTTP requests answered, by route pattern, method and status', labelNames: ['route', 'method', 'status'], registers }),
    ingestSeconds: new Histogram({
      name: 'ferry_ingest_duration_seconds',
      help: 'Time from an ingest request to its answer (a 200 comes after the log commit)',
      labelNames: ['route'],
      buckets: [...LATENCY_BUCKETS_SECONDS],
      registers,
    }),
    eventsAccepted: new Counter({ name: 'ferry_events_accepted_total', help: 'Events committed to the log, by source id', labelNames: ['source'], registers }),
    log: {
      batchRows: new Histogram({ name: 'ferry_log_write_batch_rows', help: 'Rows per log transaction (group commit)', buckets: [...BATCH_SIZE_BUCKETS], registers }),
      commitSeconds: new Histogram({
        name: 'ferry_log_commit_duration_seconds',
        help: 'Time to write and commit one log transaction, by outcome (ok, error)',
        labelNames: ['outcome'],
        buckets: [...LATENCY_BUCKETS_SECONDS],
        registers,
      }),
    },
  };
  new Gauge({
    name: 'ferry_log_write_backlog_rows',
    help: 'Rows waiting for a log writer',
    registers,
    collect() {
      this.set(logBacklog());
    },
  });
  new Gauge({
    name: 'ferry_mode',
    help: 'The pipeline mode: 1 for the current one (normal, degraded), 0 for the others',
    labelNames: ['mode'],
    registers,
    async collect() {
      const current = await mode.current();
      for (const name of Object.values(PIPELINE_MODES)) this.set({ mode: name }, name === current ? 1 : 0);
    },
  });
  new Gauge({
    name: 'ferry_destination_paused',
    help: 'Whether a destination is paused or probing (1) or active (0)',
    labelNames: ['destination'],
    registers,
    async collect() {
      const paused = new Set(((await mode.pausedDestinations?.()) ?? []).map((d) => d.id));
      // Reset: a destination removed from the workspace and resumed should not linger.
      this.reset();
      for (const id of new Set([...destinationIds, ...paused])) this.set({ destination: id }, paused.has(id) ? 1 : 0);
    },
  });
  return metrics;
}
