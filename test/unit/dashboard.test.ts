/**
 * The Grafana dashboard in docker/grafana is checked against the code: every PromQL expression in it
 * parses, and every ferry_ metric and label it uses is one the gateway or the worker exports, as their
 * entry points build their registries. A renamed metric fails here, not on an operator's empty panel.
 */
import fs from 'node:fs';
import path from 'node:path';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createGatewayMetrics } from '../../metrics/gateway';
import { createWorkerMetrics } from '../../metrics/worker';
import { parsePromQl, PromQlError } from '../support/promql';

const ROOT = path.resolve(__dirname, '..', '..');
const DASHBOARD = path.join(ROOT, 'docker', 'grafana', 'dashboards', 'ferry.json');

interface Panel {
  readonly title?: string;
  readonly type: string;
  readonly targets?: ReadonlyArray<{ readonly expr: string }>;
  readonly panels?: readonly Panel[];
}

const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[]; templating: { list: Array<{ name: string; definition?: string }> } };

function panelsOf(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...panelsOf(p.panels ?? [])]);
}

/** Grafana's variables, as Grafana substitutes them before Prometheus sees the query. */
function substitute(expr: string): string {
  return expr.replaceAll('$__rate_interval', '5m').replaceAll('$__range', '1h').replace(/\$\{?[a-z_]+\}?/gi, '.*');
}

const queries = panelsOf(dashboard.panels).flatMap((panel) => (panel.targets ?? []).map((t) => ({ panel: panel.title ?? '(untitled)', expr: substitute(t.expr) })));

interface Exported {
  readonly type: string;
  readonly labels: ReadonlySet<string>;
}

/** Each series name a registry exports (a histogram's _bucket, _sum and _count), with its labels. */
async function exportedBy(registry: Registry): Promise<Map<string, Exported>> {
  const series = new Map<string, Exported>();
  for (const metric of await registry.getMetricsAsJSON()) {
    const labelNames = (registry.getSingleMetric(metric.name) as unknown as { labelNames?: string[] }).labelNames ?? [];
    const labels = new Set(labelNames);
    if (String(metric.type) === 'histogram') {
      series.set(`${metric.name}_bucket`, { type: 'histogram', labels: new Set([...labels, 'le']) });
      series.set(`${metric.name}_sum`, { type: 'histogram', labels });
      series.set(`${metric.name}_count`, { type: 'histogram', labels });
    } else series.set(metric.name, { type: String(metric.type), labels });
  }
  return series;
}

/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ['job', 'instance'];

describe('the Grafana dashboard', () => {
  let exported: Map<string, Exported>;
  let defaults: Set<string>;

  beforeAll(async () => {
    exported = new Map([...(await exportedBy(createGatewayMetrics().registry)), ...(await exportedBy(createWorkerMetrics().registry))]);
    const processOnly = new Registry();
    collectDefaultMetrics({ register: processOnly, prefix: 'ferry_' });
    defaults = new Set((await exportedBy(processOnly)).keys());
  });

  it('has panels with queries', () => {
    expect(queries.length).toBeGreaterThan(10);
    for (const panel of panelsOf(dashboard.panels).filter((p) => p.type !== 'row')) expect({ panel: panel.title, targets: (panel.targets ?? []).length > 0 }).toEqual({ panel: panel.title, targets: true });
  });

  it('uses only ferry_ metrics and labels that the gateway or the worker exports', () => {
    const problems: string[] = [];
    for (const { panel, expr } of queries) {
      const { selectors, groupingLabels } = parsePromQl(expr);
      const ferry = selectors.filter((s) => s.metric.startsWith('ferry_'));
      for (const { metric, labels } of ferry) {
        const found = exported.get(metric);
        if (!found) {
          problems.push(`${panel}: ${metric} is not exported`);
          continue;
        }
        for (const label of labels) if (!found.labels.has(label)) problems.push(`${panel}: ${metric} has no label ${label}`);
      }
      // Grouping labels are checked where every metric of the query is Ferry's (Temporal's have their own).
      if (ferry.length === selectors.length) {
        const known = new Set([...TARGET_LABELS, ...ferry.flatMap((s) => [...(exported.get(s.metric)?.labels ?? [])])]);
        for (const label of groupingLabels) if (!known.has(label)) problems.push(`${panel}: groups by ${label}, which none of its metrics has`);
      }
    }
    expect(problems).toEqual([]);
  });

  it("builds the destination variable on an exported metric and label", () => {
    const variable = dashboard.templating.list.find((v) => v.name === 'destination');
    const [, metric, label] = /^label_values\((\w+),\s*(\w+)\)$/.exec(variable?.definition ?? '') ?? [];
    expect(exported.get(metric!)?.labels.has(label!)).toBe(true);
  });

  it("shows every metric Ferry itself defines (the process metrics may stay off it)", () => {
    const used = new Set(queries.flatMap(({ expr }) => parsePromQl(expr).selectors.map((s) => s.metric)));
    const ownBases = new Set([...exported.keys()].filter((name) => !defaults.has(name)).map((name) => name.replace(/_(bucket|sum|count)$/, (suffix) => (exported.get(name)?.type === 'histogram' ? '' : suffix))));
    const shown = new Set([...used].map((name) => name.replace(/_(bucket|sum|count)$/, (suffix) => (exported.get(name)?.type === 'histogram' ? '' : suffix))));
    expect([...ownBases].filter((name) => !shown.has(name)).sort()).toEqual([]);
  });
});

describe('the PromQL checker', () => {
  test.each([
    { id: 'unbalanced', description: 'an unclosed bracket', input: 'sum(rate(ferry_deliveries_total[5m])', expected: /unclosed/ },
    { id: 'matcher', description: 'a matcher without a quoted value', input: 'ferry_deliveries_total{outcome=delivered}', expected: /label matcher/ },
    { id: 'function', description: 'an unknown function', input: 'summ(ferry_deliveries_total)', expected: /unknown function summ/ },
    { id: 'range', description: 'a range that is not a duration', input: 'rate(ferry_deliveries_total[5])', expected: /range/ },
  ])('rejects $description', ({ input, expected }) => {
    expect(() => parsePromQl(input)).toThrow(PromQlError);
    expect(() => parsePromQl(input)).toThrow(expected);
  });

  it('finds selectors, their labels and the grouping labels', () => {
    expect(parsePromQl('histogram_quantile(0.99, sum by (le, destination) (rate(ferry_delivery_latency_seconds_bucket{destination=~".*"}[5m])))')).toEqual({
      selectors: [{ metric: 'ferry_delivery_latency_seconds_bucket', labels: ['destination'] }],
      groupingLabels: ['le', 'destination'],
    });
  });
});
