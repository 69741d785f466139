import { EVENT_TYPES } from '../../../events/event';
import { defineDestination } from '../definition';
import { webhookConfigSchema } from './config';
import { transformWebhook } from './transform';

export const webhook = defineDestination({
  name: 'WEBHOOK',
  configSchema: webhookConfigSchema,
  supportedMessageTypes: EVENT_TYPES,
  transform: (event, config) => transformWebhook(event, config),
});
