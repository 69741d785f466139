import { EVENT_TYPES } from '../../events/event';
import { defineDestination } from '../definition';
import { DESTINATION_NAMES } from '../names';
import { webhookConfigSchema } from './config';
import { transformWebhook } from './transform';

export const webhook = defineDestination({
  name: DESTINATION_NAMES.webhook,
  configSchema: webhookConfigSchema,
  supportedMessageTypes: EVENT_TYPES,
  transform: (event, config) => transformWebhook(event, config),
});
