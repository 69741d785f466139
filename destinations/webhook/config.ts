import { z } from 'zod';
import { eventFilterFields } from '../fields/eventFilter';

/** RudderStack's WEBHOOK destination config: URL, method and custom headers. */
export const webhookConfigSchema = z.object({
  webhookUrl: z.url({ protocol: /^https?$/, error: 'webhookUrl must be an http(s) URL' }),
  /** @default POST */
  webhookMethod: z.enum(['POST', 'PUT', 'PATCH', 'GET', 'DELETE']).default('POST'),
  /** Extra headers, in RudderStack's `{ from: name, to: value }` shape. */
  headers: z.array(z.object({ from: z.string().min(1), to: z.string() })).default([]),
  ...eventFilterFields,
});

export type WebhookConfig = z.infer<typeof webhookConfigSchema>;
