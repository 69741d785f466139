/**
 * The worker's Prometheus metrics, on a registry of their own (tests build as many as they like): the
 * relay's lag and signals, and the deliveries. The worker serves them on a listener of its own
 * (metrics/server.ts); Temporal's SDK serves its own metrics on another address (workers/runtime.ts).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { BATCH_SIZE_BUCKETS, DELIVERY_LATENCY_BUCKETS_SECONDS, LATENCY_BUCKETS_SECONDS } from './buckets';
import { LaneBacklog } from './laneBacklog';

/** How a delivery attempt of one event ended: the three settled outcomes, or a failure to retry later. */
export const DELIVERY_OUTCOMES = { delivered: 'delivered', filtered: 'filtered', aborted: 'aborted', retry: 'retry' } as const;
export type DeliveryOutcomeLabel = (typeof DELIVERY_OUTCOMES)[keyof typeof DELIVERY_OUTCOMES];

export interface RelayMetrics {
  /** Rows in this relay's buckets not relayed yet (as last measured, every few seconds). */
  readonly lagRows: Gauge;
  /** Age of the oldest of them; 0 when there is none. */
  readonly lagSeconds: Gauge;
  readonly ownedBuckets: Gauge;
  /** Log refs per signal: how much each Temporal call carries. */
  readonly signalEvents: Histogram;
}

export interface DeliveryMetrics {
  readonly deliveries: Counter<'destination' | 'outcome'>;
  /** From the gateway receiving an event to its delivery (live deliveries; replays are not counted). */
  readonly latencySeconds: Histogram<'destination'>;
  /** One delivery step: a lane's head batch read, transformed and sent. */
  readonly stepSeconds: Histogram<'destination'>;
  readonly deadLetters: Counter<'destination' | 'stage'>;
  readonly laneBacklog: LaneBacklog;
}

export interface WorkerMetrics {
  readonly registry: Registry;
  readonly relay: RelayMetrics;
  readonly delivery: DeliveryMetrics;
}

export interface WorkerMetricsOptions {
  /** Where the metrics are registered. @default a new registry */
  readonly registry?: Registry;
  /** @default a LaneBacklog with its defaults */
  readonly laneBacklog?: LaneBacklog;
}

export function createWorkerMetrics({ registry = new Registry(), laneBacklog = new LaneBacklog() }: WorkerMetricsOptions = {}): WorkerMetrics {
  const registers = [registry];
  collectDefaultMetrics({ register: registry, prefix: 'ferry_' });
  new Gauge({
    name: 'ferry_lane_backlog_events',
    help: "Events at the head of this worker's lanes not settled yet, by destination (each lane counts up to FERRY_MAX_BATCH_SIZE)",
    labelNames: ['destination'],
    registers,
    collect() {
      this.reset();
      for (const [destination, pending] of laneBacklog.byDestination()) this.set({ destination }, pending);
    },
  });
  return {
    registry,
    relay: {
      lagRows: new Gauge({ name: 'ferry_relay_lag_rows', help: "Log rows in this relay's buckets not relayed yet", registers }),
      lagSeconds: new Gauge({ name: 'ferry_relay_lag_seconds', help: 'Age of the oldest log row this relay has not relayed yet', registers }),
      ownedBuckets: new Gauge({ name: 'ferry_relay_owned_buckets', help: 'Log buckets this relay owns', registers }),
      signalEvents: new Histogram({ name: 'ferry_relay_signal_events', help: 'Log refs per signal to a workflow', buckets: [...BATCH_SIZE_BUCKETS], registers }),
    },
    delivery: {
      deliveries: new Counter({
        name: 'ferry_deliveries_total',
        help: 'Delivery attempts of one event, by destination and outcome (delivered, filtered, aborted, retry)',
        labelNames: ['destination', 'outcome'],
        registers,
      }),
      latencySeconds: new Histogram({
        name: 'ferry_delivery_latency_seconds',
        help: 'Time from the gateway receiving an event to its delivery, by destination',
        labelNames: ['destination'],
        buckets: [...DELIVERY_LATENCY_BUCKETS_SECONDS],
        registers,
      }),
      stepSeconds: new Histogram({
        name: 'ferry_delivery_step_duration_seconds',
        help: 'Time of one delivery step (a lane head read, transformed and sent), by destination',
        labelNames: ['destination'],
        buckets: [...LATENCY_BUCKETS_SECONDS],
        registers,
      }),
      deadLetters: new Counter({ name: 'ferry_dead_letters_total', help: 'Events written to the dead-letter table, by destination and stage', labelNames: ['destination', 'stage'], registers }),
      laneBacklog,
    },
  };
}
