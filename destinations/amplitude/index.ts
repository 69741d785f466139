import { EVENT_TYPES } from '../../events/event';
import { defineDestination } from '../definition';
import { DESTINATION_NAMES } from '../names';
import { amplitudeConfigSchema } from './config';
import { authorizeAmplitude, transformAmplitude } from './transform';

export const amplitude = defineDestination({
  name: DESTINATION_NAMES.amplitude,
  configSchema: amplitudeConfigSchema,
  supportedMessageTypes: EVENT_TYPES,
  transform: (event, config) => transformAmplitude(event, config),
  authorize: (request, config) => authorizeAmplitude(request, config),
  secrets: (config) => [config.apiKey],
});
