/**
 * Where the supervisor's alerts go. Every channel is optional and independent: an alert goes to each
 * channel that is configured, and to none when none is (the supervisor's decisions still take effect).
 */
import { z } from 'zod';

/**
 * The alert activities POST with fetch, which speaks http(s) only. Same protocol pattern as zod's
 * httpUrl(), so `http:host` without `//` is refused too, but any host is allowed (httpUrl() wants a
 * public domain, which would refuse 127.0.0.1 and internal names).
 */
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

/** Alert settings; spread into the worker's env schema. */
export const alertEnv = {
  /**
   * The PagerDuty Events API v2 endpoint; set it for an EU-hosted account (events.eu.pagerduty.com).
   * @default https://events.pagerduty.com/v2/enqueue
   */
  FERRY_ALERT_PAGERDUTY_URL: httpUrl.default('https://events.pagerduty.com/v2/enqueue'),
  /** Integration key of an Events API v2 integration; PagerDuty is alerted only when it is set. */
  FERRY_ALERT_PAGERDUTY_ROUTING_KEY: z.string().min(1).optional(),
  /**
   * The whole Splunk On-Call (VictorOps) REST endpoint URL, `…/alert/<api key>/<routing key>`: both
   * keys live in the path, so there is nothing else to set.
   */
  FERRY_ALERT_VICTOROPS_URL: httpUrl.optional(),
  /** An endpoint that takes Ferry's own JSON alert, for chat bridges and home-grown tools. */
  FERRY_ALERT_WEBHOOK_URL: httpUrl.optional(),
};

/** The parsed alert settings; any parsed env that spreads `alertEnv` is one. */
export type AlertEnv = z.infer<z.ZodObject<typeof alertEnv>>;

/** Channel names, as the workflow passes them to sendAlert. */
export const ALERT_CHANNELS = { pagerduty: 'pagerduty', victorops: 'victorops', webhook: 'webhook' } as const;
export type AlertChannel = (typeof ALERT_CHANNELS)[keyof typeof ALERT_CHANNELS];

/** One entry per configured channel, keyed by channel name; an absent key is a channel not in use. */
export interface AlertConfig {
  readonly pagerduty?: { readonly url: string; readonly routingKey: string };
  readonly victorops?: { readonly url: string };
  readonly webhook?: { readonly url: string };
}

export function alertConfigOf(env: AlertEnv): AlertConfig {
  const routingKey = env.FERRY_ALERT_PAGERDUTY_ROUTING_KEY;
  return {
    // The URL always has its default, so the routing key alone decides whether PagerDuty is in use.
    ...(routingKey !== undefined && { pagerduty: { url: env.FERRY_ALERT_PAGERDUTY_URL, routingKey } }),
    ...(env.FERRY_ALERT_VICTOROPS_URL !== undefined && { victorops: { url: env.FERRY_ALERT_VICTOROPS_URL } }),
    ...(env.FERRY_ALERT_WEBHOOK_URL !== undefined && { webhook: { url: env.FERRY_ALERT_WEBHOOK_URL } }),
  };
}

/** The channels an alert goes to, in ALERT_CHANNELS order, so every run sends them alike. */
export function configuredChannels(config: AlertConfig): AlertChannel[] {
  return Object.values(ALERT_CHANNELS).filter((channel) => config[channel] !== undefined);
}
