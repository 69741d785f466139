/**
 * Histogram bucket boundaries shared by the gateway's and the worker's metrics, so that panels which
 * put their quantiles side by side compare like with like.
 */

/** Latencies from a millisecond (a group commit under no load) to a minute (a destination timing out). */
export const LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const;

/** Delivery latency spans retries and pauses as well: up to an hour. */
export const DELIVERY_LATENCY_BUCKETS_SECONDS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600] as const;

/** Rows per log transaction and refs per relay signal: 1 up to the largest batch either allows. */
export const BATCH_SIZE_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 256, 500, 1000, 2000, 5000, 10000] as const;
