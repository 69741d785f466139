import { EVENT_TYPES } from '../../events/event';
import { defineDestination } from '../definition';
import { DESTINATION_NAMES } from '../names';
import { mixpanelConfigSchema } from './config';
import { authorizeMixpanel, transformMixpanel } from './transform';

export const mixpanel = defineDestination({
  name: DESTINATION_NAMES.mixpanel,
  configSchema: mixpanelConfigSchema,
  supportedMessageTypes: EVENT_TYPES,
  transform: (event, config) => transformMixpanel(event, config),
  authorize: (request, config) => authorizeMixpanel(request, config),
  secrets: (config) => [config.apiSecret, config.serviceAccountSecret].filter((s): s is string => s !== undefined),
});
