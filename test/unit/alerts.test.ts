/**
 * Alert delivery: the exact body each vendor gets when an incident opens and when it closes, checked
 * again on the wire against a real server on 127.0.0.1; that open and close share one key; and which
 * failures Temporal retries (a plain Error) and which it must not (a non-retryable ApplicationFailure).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import pino from 'pino';
import { z } from 'zod';
import { ALERT_FAILURES, createAlertActivities } from '../../activities/alerts';
import { pagerDutyEvent } from '../../activities/alerts/pagerduty';
import { victorOpsAlert } from '../../activities/alerts/victorops';
import { webhookAlert } from '../../activities/alerts/webhook';
import { ALERT_CHANNELS, alertConfigOf, alertEnv, configuredChannels, type AlertChannel, type AlertConfig } from '../../config/alertEnv';
import { parseEnv, workerEnvSchema } from '../../config/env';
import { ConfigError } from '../../config/errors';
import type { Alert } from '../../control/alert';
import { Receiver } from '../support/receiver';

/** 2026-11-26T22:15:30Z, 1795731330 s. */
const OPENED = Date.UTC(2026, 10, 26, 22, 15, 30);
/** 2026-11-26T22:47:05Z, 1795733225 s. */
const CLOSED = Date.UTC(2026, 10, 26, 22, 47, 5);
const ROUTING_KEY = 'R0UT1NGKEY0000000000000000000000';
const LONG_ID = 'd'.repeat(300);

const ALERTS = {
  paused: { kind: 'paused', dedupKey: 'ferry/pipeline', summary: 'Pipeline paused: the log is 92% full', at: OPENED },
  resumed: { kind: 'resumed', dedupKey: 'ferry/pipeline', summary: 'Pipeline resumed', at: CLOSED },
  degraded: {
    kind: 'degraded',
    dedupKey: 'ferry/destination/webhook-1',
    summary: 'Destination webhook-1 degraded: 37% of deliveries failing',
    destinationId: 'webhook-1',
    at: OPENED,
  },
  recovered: { kind: 'recovered', dedupKey: 'ferry/destination/webhook-1', summary: 'Destination webhook-1 recovered', destinationId: 'webhook-1', at: CLOSED },
} as const satisfies Record<string, Alert>;
type AlertName = keyof typeof ALERTS;
/** Each incident as the supervisor raises it: opened, then closed under the same dedupKey. */
const INCIDENTS: ReadonlyArray<readonly [AlertName, AlertName]> = [
  ['paused', 'resumed'],
  ['degraded', 'recovered'],
];

const BUILD: Record<AlertChannel, (alert: Alert) => unknown> = {
  pagerduty: (alert) => pagerDutyEvent(ROUTING_KEY, alert),
  victorops: victorOpsAlert,
  webhook: webhookAlert,
};

interface BodyCase {
  readonly id: string;
  readonly description: string;
  readonly input: { readonly channel: AlertChannel; readonly alert: Alert };
  readonly expected: unknown;
}

const cases: BodyCase[] = [
  {
    id: 'pagerduty/paused',
    description: 'a pause triggers an error-severity PagerDuty alert for the pipeline',
    input: { channel: 'pagerduty', alert: ALERTS.paused },
    expected: {
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: 'ferry/pipeline',
      payload: {
        summary: 'Pipeline paused: the log is 92% full',
        source: 'ferry',
        severity: 'error',
        timestamp: '2026-11-26T22:15:30.000Z',
        component: 'pipeline',
        group: 'pipeline',
        class: 'paused',
        custom_details: { kind: 'paused' },
      },
      client: 'Ferry',
    },
  },
  {
    id: 'pagerduty/resumed',
    description: 'a resume resolves it: routing key, action and dedup key only',
    input: { channel: 'pagerduty', alert: ALERTS.resumed },
    expected: { routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: 'ferry/pipeline' },
  },
  {
    id: 'pagerduty/degraded',
    description: 'a degraded destination triggers a critical alert naming the destination',
    input: { channel: 'pagerduty', alert: ALERTS.degraded },
    expected: {
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: 'ferry/destination/webhook-1',
      payload: {
        summary: 'Destination webhook-1 degraded: 37% of deliveries failing',
        source: 'ferry',
        severity: 'critical',
        timestamp: '2026-11-26T22:15:30.000Z',
        component: 'webhook-1',
        group: 'destinations',
        class: 'degraded',
        custom_details: { kind: 'degraded', destinationId: 'webhook-1' },
      },
      client: 'Ferry',
    },
  },
  {
    id: 'pagerduty/recovered',
    description: 'its recovery resolves it',
    input: { channel: 'pagerduty', alert: ALERTS.recovered },
    expected: { routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: 'ferry/destination/webhook-1' },
  },
  {
    id: 'pagerduty/long-summary',
    description: 'a summary over 1024 characters is cut to 1024, ending in an ellipsis',
    input: { channel: 'pagerduty', alert: { ...ALERTS.paused, summary: 'x'.repeat(2_000) } },
    expected: expect.objectContaining({ payload: expect.objectContaining({ summary: `${'x'.repeat(1_023)}…` }) }),
  },
  {
    id: 'pagerduty/long-dedup-key',
    description: 'a dedup key over 255 characters is cut to 255 and ends in a hash of the whole key',
    input: { channel: 'pagerduty', alert: { ...ALERTS.recovered, dedupKey: `ferry/destination/${LONG_ID}`, destinationId: LONG_ID } },
    expected: { routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: `ferry/destination/${LONG_ID}`.slice(0, 238) + '~0619880b0e835cff' },
  },
  {
    id: 'victorops/paused',
    description: 'a pause opens a CRITICAL On-Call incident for the pipeline',
    input: { channel: 'victorops', alert: ALERTS.paused },
    expected: {
      message_type: 'CRITICAL',
      entity_id: 'ferry/pipeline',
      entity_display_name: 'Ferry pipeline',
      state_message: 'Pipeline paused: the log is 92% full',
      state_start_time: 1_795_731_330,
      monitoring_tool: 'Ferry',
    },
  },
  {
    id: 'victorops/resumed',
    description: 'a resume sends RECOVERY for the same entity',
    input: { channel: 'victorops', alert: ALERTS.resumed },
    expected: {
      message_type: 'RECOVERY',
      entity_id: 'ferry/pipeline',
      entity_display_name: 'Ferry pipeline',
      state_message: 'Pipeline resumed',
      state_start_time: 1_795_733_225,
      monitoring_tool: 'Ferry',
    },
  },
  {
    id: 'victorops/degraded',
    description: 'a degraded destination opens a CRITICAL incident named after the destination',
    input: { channel: 'victorops', alert: ALERTS.degraded },
    expected: {
      message_type: 'CRITICAL',
      entity_id: 'ferry/destination/webhook-1',
      entity_display_name: 'Ferry destination webhook-1',
      state_message: 'Destination webhook-1 degraded: 37% of deliveries failing',
      state_start_time: 1_795_731_330,
      monitoring_tool: 'Ferry',
    },
  },
  {
    id: 'victorops/recovered',
    description: 'its recovery sends RECOVERY for the same entity',
    input: { channel: 'victorops', alert: ALERTS.recovered },
    expected: {
      message_type: 'RECOVERY',
      entity_id: 'ferry/destination/webhook-1',
      entity_display_name: 'Ferry destination webhook-1',
      state_message: 'Destination webhook-1 recovered',
      state_start_time: 1_795_733_225,
      monitoring_tool: 'Ferry',
    },
  },
  {
    id: 'webhook/paused',
    description: 'a pause is an open alert with no destinationId',
    input: { channel: 'webhook', alert: ALERTS.paused },
    expected: { kind: 'paused', dedupKey: 'ferry/pipeline', summary: 'Pipeline paused: the log is 92% full', at: '2026-11-26T22:15:30.000Z', status: 'open' },
  },
  {
    id: 'webhook/resumed',
    description: 'a resume is the resolved alert under the same key',
    input: { channel: 'webhook', alert: ALERTS.resumed },
    expected: { kind: 'resumed', dedupKey: 'ferry/pipeline', summary: 'Pipeline resumed', at: '2026-11-26T22:47:05.000Z', status: 'resolved' },
  },
  {
    id: 'webhook/degraded',
    description: 'a degraded destination is an open alert naming it',
    input: { channel: 'webhook', alert: ALERTS.degraded },
    expected: {
      kind: 'degraded',
      dedupKey: 'ferry/destination/webhook-1',
      summary: 'Destination webhook-1 degraded: 37% of deliveries failing',
      destinationId: 'webhook-1',
      at: '2026-11-26T22:15:30.000Z',
      status: 'open',
    },
  },
  {
    id: 'webhook/recovered',
    description: 'its recovery is the resolved alert under the same key',
    input: { channel: 'webhook', alert: ALERTS.recovered },
    expected: {
      kind: 'recovered',
      dedupKey: 'ferry/destination/webhook-1',
      summary: 'Destination webhook-1 recovered',
      destinationId: 'webhook-1',
      at: '2026-11-26T22:47:05.000Z',
      status: 'resolved',
    },
  },
];

function expectedBody(channel: AlertChannel, name: AlertName): unknown {
  const found = cases.find((c) => c.id === `${channel}/${name}`);
  if (!found) throw new Error(`no fixture ${channel}/${name}`);
  return found.expected;
}

/** The field each vendor correlates an incident's open and close by. */
const INCIDENT_KEY: Record<AlertChannel, string> = { pagerduty: 'dedup_key', victorops: 'entity_id', webhook: 'dedupKey' };

describe('alert bodies', () => {
  test.each(cases)('$id: $description', ({ input, expected }) => {
    const body = BUILD[input.channel](input.alert);
    expect(body).toEqual(expected);
    // What goes on the wire is JSON: nothing may be lost or changed by serializing it.
    expect(JSON.parse(JSON.stringify(body))).toEqual(body);
  });

  it.each(Object.values(ALERT_CHANNELS))('%s: an incident opens and closes under one key', (channel) => {
    const longOpen: Alert = { ...ALERTS.degraded, dedupKey: `ferry/destination/${LONG_ID}`, destinationId: LONG_ID };
    const pairs: Array<readonly [Alert, Alert]> = [
      ...INCIDENTS.map(([open, close]) => [ALERTS[open], ALERTS[close]] as const),
      [longOpen, { ...ALERTS.recovered, dedupKey: longOpen.dedupKey, destinationId: LONG_ID }],
    ];
    for (const [open, close] of pairs) {
      const key = (alert: Alert) => (BUILD[channel](alert) as Record<string, unknown>)[INCIDENT_KEY[channel]];
      expect(key(open)).toEqual(expect.any(String));
      expect(key(close)).toBe(key(open));
    }
  });
});

describe('sendAlert', () => {
  let receiver: Receiver;
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const configFor = (base: string): Required<AlertConfig> => ({
    pagerduty: { url: `${base}/v2/enqueue`, routingKey: ROUTING_KEY },
    victorops: { url: `${base}/integrations/generic/20131114/alert/vo-api-key/ferry-route` },
    webhook: { url: `${base}/hooks/ferry?token=t0ken` },
  });
  /** What a failed send threw. */
  const failureOf = async (promise: Promise<unknown>): Promise<Error> => {
    const outcome = await promise.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(outcome).toBeInstanceOf(Error);
    return outcome as Error;
  };

  beforeAll(async () => {
    receiver = await Receiver.start();
  });
  afterAll(() => receiver.close());
  beforeEach(() => {
    receiver.requests.length = 0;
    receiver.respond(() => ({ status: 202, body: '{"status":"success"}' }));
    lines.length = 0;
  });

  it.each(Object.values(ALERT_CHANNELS))('%s receives exactly the fixture bodies, each incident opened and closed, with one log line each', async (channel) => {
    const config = configFor(receiver.url);
    const { sendAlert } = createAlertActivities({ config, logger });
    const sequence: AlertName[] = INCIDENTS.flat();
    for (const name of sequence) expect(await sendAlert({ channel, alert: ALERTS[name] })).toEqual({ channel, status: 202 });

    expect(receiver.requests.map((r) => r.body)).toEqual(sequence.map((name) => expectedBody(channel, name)));
    const { pathname, search } = new URL(config[channel].url);
    expect(receiver.requests.map((r) => [r.method, r.path, r.headers['content-type']])).toEqual(sequence.map(() => ['POST', pathname + search, 'application/json']));
    // One idempotency key per alert: an incident's open and close are different alerts.
    const keys = receiver.requests.map((r) => r.headers['idempotency-key']);
    expect(keys).toEqual(sequence.map(() => expect.stringMatching(/^[0-9a-f]{64}$/)));
    expect(new Set(keys).size).toBe(sequence.length);
    expect(lines.map(({ level, msg, kind, dedupKey, channel: logged, status }) => ({ level, msg, kind, dedupKey, channel: logged, status }))).toEqual(
      sequence.map((name) => ({ level: 30, msg: 'alert sent', kind: name, dedupKey: ALERTS[name].dedupKey, channel, status: 202 })),
    );
  });

  it('sends a retried alert as the very same request, so the vendor can drop it', async () => {
    const { sendAlert } = createAlertActivities({ config: configFor(receiver.url), logger });
    for (const channel of Object.values(ALERT_CHANNELS)) {
      receiver.requests.length = 0;
      await sendAlert({ channel, alert: ALERTS.degraded });
      await sendAlert({ channel, alert: ALERTS.degraded });
      const [first, second] = receiver.requests;
      expect(second!.rawBody).toBe(first!.rawBody);
      expect(second!.headers['idempotency-key']).toBe(first!.headers['idempotency-key']);
    }
  });

  it.each([500, 502, 503, 408, 429])('HTTP %i is a plain Error, which Temporal retries', async (status) => {
    receiver.respond(() => ({ status, body: 'try later' }));
    const { sendAlert } = createAlertActivities({ config: configFor(receiver.url), logger });
    const error = await failureOf(sendAlert({ channel: 'victorops', alert: ALERTS.degraded }));
    expect(error).not.toBeInstanceOf(ApplicationFailure);
    expect(error.message).toBe(`victorops alert degraded for ferry/destination/webhook-1: HTTP ${status} from ${receiver.url}: try later`);
    // The On-Call URL's path holds its API key and routing key.
    expect(error.message).not.toMatch(/vo-api-key|ferry-route/);
    expect(lines).toEqual([]);
  });

  it.each([400, 401, 403, 404, 413])('HTTP %i is a non-retryable AlertRejected: the vendor refused, and retrying cannot help', async (status) => {
    const answer = '{"status":"invalid event","message":"Event object is invalid"}';
    receiver.respond(() => ({ status, body: answer }));
    const { sendAlert } = createAlertActivities({ config: configFor(receiver.url), logger });
    const error = await failureOf(sendAlert({ channel: 'pagerduty', alert: ALERTS.paused }));
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect(error).toMatchObject({ nonRetryable: true, type: ALERT_FAILURES.rejected });
    expect(error.message).toBe(`pagerduty alert paused for ferry/pipeline: HTTP ${status} from ${receiver.url}: ${answer}`);
    expect(lines).toEqual([]);
  });

  it('a refused connection is a plain Error, which Temporal retries; the message leaves the URL’s secrets out', async () => {
    const port = await closedPort();
    const { sendAlert } = createAlertActivities({ config: { webhook: { url: `http://127.0.0.1:${port}/hooks/ferry?token=t0ken` } }, logger });
    const error = await failureOf(sendAlert({ channel: 'webhook', alert: ALERTS.paused }));
    expect(error).not.toBeInstanceOf(ApplicationFailure);
    expect(error.message).toBe(`webhook alert paused for ferry/pipeline: network error (ECONNREFUSED) calling http://127.0.0.1:${port}`);
    expect(lines).toEqual([]);
  });

  it.each(Object.values(ALERT_CHANNELS))('a %s alert on a worker without settings for it is a non-retryable AlertChannelNotConfigured', async (channel) => {
    const others = Object.fromEntries(Object.entries(configFor(receiver.url)).filter(([name]) => name !== channel)) as AlertConfig;
    const { sendAlert } = createAlertActivities({ config: others, logger });
    const error = await failureOf(sendAlert({ channel, alert: ALERTS.degraded }));
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect(error).toMatchObject({ nonRetryable: true, type: ALERT_FAILURES.notConfigured });
    expect(receiver.requests).toEqual([]);
  });

  it('posts through the fetch it is given', async () => {
    const calls: string[] = [];
    const fetch: typeof globalThis.fetch = async (url, init) => {
      calls.push(`${init?.method} ${String(url)}`);
      return new Response(null, { status: 204 });
    };
    const { sendAlert } = createAlertActivities({ config: { webhook: { url: 'https://alerts.invalid/hook' } }, logger, fetch });
    expect(await sendAlert({ channel: 'webhook', alert: ALERTS.resumed })).toEqual({ channel: 'webhook', status: 204 });
    expect(calls).toEqual(['POST https://alerts.invalid/hook']);
  });
});

describe('alert settings', () => {
  const schema = z.object(alertEnv);
  const PD = 'https://events.pagerduty.com/v2/enqueue';

  it('configures no channel when nothing is set, and defaults the PagerDuty URL', () => {
    const env = parseEnv(schema, {});
    expect(env.FERRY_ALERT_PAGERDUTY_URL).toBe(PD);
    expect(alertConfigOf(env)).toEqual({});
    expect(configuredChannels(alertConfigOf(env))).toEqual([]);
  });

  it('uses PagerDuty only once a routing key is set; an empty one counts as unset', () => {
    expect(alertConfigOf(parseEnv(schema, { FERRY_ALERT_PAGERDUTY_URL: 'https://events.eu.pagerduty.com/v2/enqueue' }))).toEqual({});
    expect(alertConfigOf(parseEnv(schema, { FERRY_ALERT_PAGERDUTY_ROUTING_KEY: '' }))).toEqual({});
    const config = alertConfigOf(parseEnv(schema, { FERRY_ALERT_PAGERDUTY_ROUTING_KEY: ROUTING_KEY }));
    expect(config).toEqual({ pagerduty: { url: PD, routingKey: ROUTING_KEY } });
    expect(configuredChannels(config)).toEqual(['pagerduty']);
  });

  it('configures each channel that is set, in a fixed order', () => {
    const vo = 'https://alert.victorops.com/integrations/generic/20131114/alert/key/route';
    const env = parseEnv(schema, { FERRY_ALERT_WEBHOOK_URL: 'http://127.0.0.1:9/hook', FERRY_ALERT_VICTOROPS_URL: vo });
    expect(alertConfigOf(env)).toEqual({ victorops: { url: vo }, webhook: { url: 'http://127.0.0.1:9/hook' } });
    expect(configuredChannels(alertConfigOf(env))).toEqual(['victorops', 'webhook']);
    const all = alertConfigOf(parseEnv(schema, { FERRY_ALERT_WEBHOOK_URL: 'http://127.0.0.1:9/hook', FERRY_ALERT_VICTOROPS_URL: vo, FERRY_ALERT_PAGERDUTY_ROUTING_KEY: 'k' }));
    expect(configuredChannels(all)).toEqual(['pagerduty', 'victorops', 'webhook']);
  });

  it('spreads into the worker’s env schema', () => {
    const env = parseEnv(workerEnvSchema.extend(alertEnv), { DATABASE_URL: 'postgresql://u:p@127.0.0.1:5432/ferry', FERRY_ALERT_WEBHOOK_URL: 'https://hooks.example.com/x' });
    expect(configuredChannels(alertConfigOf(env))).toEqual(['webhook']);
  });

  it.each([
    ['FERRY_ALERT_WEBHOOK_URL', 'ftp://hooks.example.com/x'],
    ['FERRY_ALERT_WEBHOOK_URL', 'hooks.example.com/x'],
    ['FERRY_ALERT_VICTOROPS_URL', 'not a url'],
    ['FERRY_ALERT_PAGERDUTY_URL', 'https:/events.pagerduty.com/v2/enqueue'],
  ])('rejects %s=%j, naming the variable and what it must be', (name, value) => {
    expect(() => parseEnv(schema, { [name]: value })).toThrow(ConfigError);
    expect(() => parseEnv(schema, { [name]: value })).toThrow(`${name}=${JSON.stringify(value)}: must be an http:// or https:// URL`);
  });
});

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
