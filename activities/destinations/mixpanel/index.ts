import { EVENT_TYPES } from '../../../events/event';
import { defineDestination } from '../definition';
import { mixpanelConfigSchema } from './config';
import { transformMixpanel } from './transform';

export const mixpanel = defineDestination({
  name: 'MIXPANEL',
  configSchema: mixpanelConfigSchema,
  supportedMessageTypes: EVENT_TYPES,
  transform: (event, config) => transformMixpanel(event, config),
});
