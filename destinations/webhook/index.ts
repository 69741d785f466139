import { EVENT_TYPES } from '../../events/event';
import { defineDestination } from '../definition';
import { DESTINATION_NAMES } from '../names';
import { webhookConfigSchema } from './config';
import { authorizeWebhook, transformWebhook, webhookSecrets } from './transform';

export const webhook = defineDestination({
  name: DESTINATION_NAMES.webhook,
  configSchema: webhookConfigSchema,
  supportedMessageTypes: EVENT_TYPES,
  transform: (event, config) => transformWebhook(event, config),
  authorize: (request, config) => authorizeWebhook(request, config),
  secrets: (config) => webhookSecrets(config),
});
