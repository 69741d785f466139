/**
 * The alert activity: one POST of one alert to one channel. The supervisor workflow runs it once per
 * configured channel and Temporal retries it, so a failure says whether retrying can help: a plain
 * Error is retried; an ApplicationFailure marked non-retryable is final.
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import { ALERT_CHANNELS, type AlertChannel, type AlertConfig } from '../../config/alertEnv';
import type { Alert } from '../../control/alert';
import { pagerDutyEvent } from './pagerduty';
import { victorOpsAlert } from './victorops';
import { webhookAlert } from './webhook';

/** How long one POST may take, answer included; a vendor slower than this is retried later. */
export const ALERT_TIMEOUT_MS = 10_000;

/** ApplicationFailure types of the alerts that retrying cannot deliver. */
export const ALERT_FAILURES = {
  /** The vendor answered 4xx (not 408 or 429): the key, URL or body is wrong, and will stay wrong. */
  rejected: 'AlertRejected',
  /** The workflow named a channel this worker has no settings for. */
  notConfigured: 'AlertChannelNotConfigured',
} as const;

export interface AlertActivityDeps {
  readonly config: AlertConfig;
  readonly logger: Logger;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

export interface SendAlertInput {
  readonly channel: AlertChannel;
  readonly alert: Alert;
}

export interface SendAlertResult {
  readonly channel: AlertChannel;
  /** The vendor's 2xx status. */
  readonly status: number;
}

export function createAlertActivities({ config, logger, fetch: post = globalThis.fetch }: AlertActivityDeps) {
  return {
    async sendAlert({ channel, alert }: SendAlertInput): Promise<SendAlertResult> {
      const label = `${channel} alert ${alert.kind} for ${alert.dedupKey}`;
      const request = requestFor(config, channel, alert);
      if (!request) throw ApplicationFailure.nonRetryable(`${label}: channel ${channel} is not configured on this worker`, ALERT_FAILURES.notConfigured);
      // Only the origin goes into messages: the path (VictorOps) or query (webhooks) may carry keys.
      const origin = new URL(request.url).origin;
      let status: number;
      let answer: string;
      try {
        const response = await post(request.url, {
          method: 'POST',
          // Every attempt at this alert carries the same key, for a receiver that deduplicates on it.
          headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKeyOf(alert) },
          body: JSON.stringify(request.body),
          signal: AbortSignal.timeout(ALERT_TIMEOUT_MS),
        });
        status = response.status;
        // Read to the end, so the connection is free for the next request; the text explains a refusal.
        answer = await response.text();
      } catch (err) {
        throw new Error(`${label}: ${reasonOf(err)} calling ${origin}`);
      }
      const detail = `${label}: HTTP ${status} from ${origin}${answer ? `: ${answer.slice(0, 300)}` : ''}`;
      if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
        throw ApplicationFailure.nonRetryable(detail, ALERT_FAILURES.rejected);
      }
      if (status < 200 || status >= 300) throw new Error(detail);
      logger.info({ kind: alert.kind, dedupKey: alert.dedupKey, channel, status }, 'alert sent');
      return { channel, status };
    },
  };
}

export type AlertActivities = ReturnType<typeof createAlertActivities>;

/** The channel's URL and body, or undefined when the channel has no settings (or is unknown). */
function requestFor(config: AlertConfig, channel: AlertChannel, alert: Alert): { url: string; body: unknown } | undefined {
  switch (channel) {
    case ALERT_CHANNELS.pagerduty:
      return config.pagerduty && { url: config.pagerduty.url, body: pagerDutyEvent(config.pagerduty.routingKey, alert) };
    case ALERT_CHANNELS.victorops:
      return config.victorops && { url: config.victorops.url, body: victorOpsAlert(alert) };
    case ALERT_CHANNELS.webhook:
      return config.webhook && { url: config.webhook.url, body: webhookAlert(alert) };
    default:
      return undefined;
  }
}

/**
 * The same for every attempt at one alert and different for any other. Hashed, because a header value
 * must be Latin-1 without line breaks, and a dedupKey (it holds a destination id) need not be.
 */
function idempotencyKeyOf(alert: Alert): string {
  return createHash('sha256').update(JSON.stringify([alert.dedupKey, alert.kind, alert.at])).digest('hex');
}

/** Why a request got no answer: fetch reports "fetch failed" and puts the reason (ECONNREFUSED…) in `cause`. */
function reasonOf(err: unknown): string {
  const { name, message, cause } = (err ?? {}) as { name?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } };
  if (name === 'TimeoutError') return `timed out after ${ALERT_TIMEOUT_MS} ms`;
  const why = [cause?.code, cause?.message, message].find((part) => typeof part === 'string' && part !== '');
  return `network error (${String(why ?? err)})`;
}
