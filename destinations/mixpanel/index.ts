import { EVENT_TYPES } from '../../events/event';
import { defineDestination } from '../definition';
import { DESTINATION_NAMES } from '../names';
import { mixpanelConfigSchema } from './config';
import { transformMixpanel } from './transform';

export const mixpanel = defineDestination({
  name: DESTINATION_NAMES.mixpanel,
  configSchema: mixpanelConfigSchema,
  supportedMessageTypes: EVENT_TYPES,
  transform: (event, config) => transformMixpanel(event, config),
});
