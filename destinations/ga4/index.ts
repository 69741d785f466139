import { defineDestination } from '../definition';
import { DESTINATION_NAMES } from '../names';
import { ga4ConfigSchema } from './config';
import { authorizeGa4, transformGa4 } from './transform';

/**
 * The Measurement Protocol needs at least one event per request, so identify has nothing to carry on
 * its own: traits reach GA4 as user properties of later events (context.traits). screen_view is
 * reserved for Google's app SDKs, and GA4 has no alias.
 */
export const ga4 = defineDestination({
  name: DESTINATION_NAMES.ga4,
  configSchema: ga4ConfigSchema,
  supportedMessageTypes: ['track', 'page', 'group'],
  transform: (event, config, context) => transformGa4(event, config, context),
  authorize: (request, config) => authorizeGa4(request, config),
  secrets: (config) => [config.apiSecret],
});
