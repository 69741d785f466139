import { EVENT_TYPES } from '../../../events/event';
import { defineDestination } from '../definition';
import { amplitudeConfigSchema } from './config';
import { transformAmplitude } from './transform';

export const amplitude = defineDestination({
  name: 'AMPLITUDE',
  configSchema: amplitudeConfigSchema,
  supportedMessageTypes: EVENT_TYPES,
  transform: (event, config) => transformAmplitude(event, config),
});
