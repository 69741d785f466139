/**
 * The parts of the metrics that hold state of their own: the lane backlog, and the gauges read at
 * scrape time (mode and paused destinations), checked through what a scrape returns.
 */
import { createGatewayMetrics } from '../../metrics/gateway';
import { LaneBacklog } from '../../metrics/laneBacklog';
import { startMetricsServer } from '../../metrics/server';
import { createWorkerMetrics } from '../../metrics/worker';
import { parseMetrics, scrape, valueOf } from '../support/metricsText';

describe('LaneBacklog', () => {
  test.each([
    {
      id: 'settled',
      description: 'a lane whose step settled everything counts nothing',
      input: [['wf1', 'hook', 20], ['wf1', 'hook', 0]] as const,
      expected: {},
    },
    {
      id: 'failed',
      description: 'a lane left with items after a failure counts them',
      input: [['wf1', 'hook', 20], ['wf1', 'hook', 13]] as const,
      expected: { hook: 13 },
    },
    {
      id: 'sum',
      description: "lanes of several users add up per destination; a lane's latest step replaces its earlier one",
      input: [['wf1', 'hook', 5], ['wf2', 'hook', 7], ['wf1', 'amp', 2], ['wf1', 'hook', 1]] as const,
      expected: { hook: 8, amp: 2 },
    },
  ])('$description', ({ input, expected }) => {
    const backlog = new LaneBacklog();
    for (const [workflowId, destinationId, pending] of input) backlog.set(workflowId, destinationId, pending);
    expect(Object.fromEntries(backlog.byDestination())).toEqual(expected);
  });

  it('forgets a lane not stepped for forgetAfterMs (its workflow moved to another worker)', () => {
    let now = 0;
    const backlog = new LaneBacklog({ forgetAfterMs: 1_000, now: () => now });
    backlog.set('wf1', 'hook', 4);
    now = 500;
    backlog.set('wf2', 'hook', 3);
    now = 1_200;
    expect(Object.fromEntries(backlog.byDestination())).toEqual({ hook: 3 });
  });
});

describe('the gateway gauges read at scrape time', () => {
  it('reports the mode and every destination, paused or not, as the mode source says', async () => {
    let paused = [{ id: 'amp' }];
    const metrics = createGatewayMetrics({ mode: { current: () => 'degraded', pausedDestinations: () => paused }, destinationIds: ['amp', 'hook'], logBacklog: () => 42 });
    let samples = parseMetrics(await metrics.registry.metrics());
    expect(valueOf(samples, 'ferry_mode', { mode: 'degraded' })).toBe(1);
    expect(valueOf(samples, 'ferry_mode', { mode: 'normal' })).toBe(0);
    expect(valueOf(samples, 'ferry_destination_paused', { destination: 'amp' })).toBe(1);
    expect(samples.filter((s) => s.name === 'ferry_destination_paused' && s.labels.destination === 'hook').map((s) => s.value)).toEqual([0]);
    expect(valueOf(samples, 'ferry_log_write_backlog_rows')).toBe(42);
    paused = [];
    samples = parseMetrics(await metrics.registry.metrics());
    expect(valueOf(samples, 'ferry_destination_paused')).toBe(0);
  });

  it('keeps registries apart: two gateways in one process count separately', async () => {
    const [a, b] = [createGatewayMetrics(), createGatewayMetrics()];
    a.eventsAccepted.inc({ source: 's1' }, 3);
    expect(valueOf(parseMetrics(await a.registry.metrics()), 'ferry_events_accepted_total', { source: 's1' })).toBe(3);
    expect(valueOf(parseMetrics(await b.registry.metrics()), 'ferry_events_accepted_total', { source: 's1' })).toBe(0);
  });
});

describe('the worker metrics listener', () => {
  it('serves the registry at /metrics and nothing else', async () => {
    const metrics = createWorkerMetrics();
    metrics.delivery.deliveries.inc({ destination: 'hook', outcome: 'delivered' }, 2);
    metrics.delivery.laneBacklog.set('wf1', 'hook', 5);
    const server = await startMetricsServer({ registry: metrics.registry, port: 0 });
    try {
      const samples = await scrape(`http://127.0.0.1:${server.port}/metrics`);
      expect(valueOf(samples, 'ferry_deliveries_total', { destination: 'hook', outcome: 'delivered' })).toBe(2);
      expect(valueOf(samples, 'ferry_lane_backlog_events', { destination: 'hook' })).toBe(5);
      expect((await fetch(`http://127.0.0.1:${server.port}/`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${server.port}/metrics`, { method: 'POST' })).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});
