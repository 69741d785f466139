import type { FerryEvent } from '../../events/event';
import type { HttpDeliveryRequest } from '../../delivery/requests';
import type { WebhookConfig } from './config';

/** The event as JSON to the configured URL; GET and DELETE carry it as query parameters instead. */
export function transformWebhook(event: FerryEvent, config: WebhookConfig): HttpDeliveryRequest[] {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  for (const { from, to } of config.headers) headers[from.toLowerCase()] = to;
  if (config.webhookMethod === 'GET' || config.webhookMethod === 'DELETE') {
    const url = new URL(config.webhookUrl);
    for (const [key, value] of Object.entries(flattenForQuery(event))) url.searchParams.set(key, value);
    return [{ kind: 'http', method: config.webhookMethod, url: url.toString(), headers }];
  }
  return [{ kind: 'http', method: config.webhookMethod, url: config.webhookUrl, headers, body: event }];
}

function flattenForQuery(value: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) flattenForQuery(inner, prefix ? `${prefix}.${key}` : key, out);
  } else if (value !== undefined) {
    out[prefix] = String(value);
  }
  return out;
}
