import type { FerryEvent } from '../../events/event';
import type { HttpDeliveryRequest } from '../../delivery/requests';
import type { WebhookConfig } from './config';

/**
 * The event as JSON to the configured URL; GET and DELETE carry it as query parameters instead. The
 * configured headers and the URL's user and password are often credentials (a bearer token, basic
 * auth), so the request built here has neither: authorizeWebhook adds them as it is sent.
 */
export function transformWebhook(event: FerryEvent, config: WebhookConfig): HttpDeliveryRequest[] {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const url = withoutUserinfo(config.webhookUrl);
  if (config.webhookMethod === 'GET' || config.webhookMethod === 'DELETE') {
    for (const [key, value] of Object.entries(flattenForQuery(event))) url.searchParams.set(key, value);
    return [{ kind: 'http', method: config.webhookMethod, url: url.toString(), headers }];
  }
  // The configured text as it is when it has no userinfo to take out, as operators wrote it.
  const target = url.href === new URL(config.webhookUrl).href ? config.webhookUrl : url.toString();
  return [{ kind: 'http', method: config.webhookMethod, url: target, headers, body: event }];
}

/** The configured headers (over the transform's own, as configured headers always won) and userinfo. */
export function authorizeWebhook(request: HttpDeliveryRequest, config: WebhookConfig): HttpDeliveryRequest {
  const headers: Record<string, string> = { ...request.headers };
  for (const { from, to } of config.headers) headers[from.toLowerCase()] = to;
  const configured = new URL(config.webhookUrl);
  if (configured.username === '' && configured.password === '') return { ...request, headers };
  const url = new URL(request.url);
  url.username = configured.username;
  url.password = configured.password;
  return { ...request, url: url.toString(), headers };
}

/** Configured header values and the URL's password: what must not be stored. */
export function webhookSecrets(config: WebhookConfig): string[] {
  const password = decodeURIComponent(new URL(config.webhookUrl).password);
  return [...config.headers.map((h) => h.to), ...(password ? [password] : [])].filter((value) => value !== '');
}

function withoutUserinfo(text: string): URL {
  const url = new URL(text);
  url.username = '';
  url.password = '';
  return url;
}

function flattenForQuery(value: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) flattenForQuery(inner, prefix ? `${prefix}.${key}` : key, out);
  } else if (value !== undefined) {
    out[prefix] = String(value);
  }
  return out;
}
