import { EVENT_TYPES } from '../../events/event';
import { defineDestination } from '../definition';
import { DESTINATION_NAMES } from '../names';
import { postgresConfigSchema } from './config';
import { transformPostgres } from './transform';

/** RudderStack's PostgreSQL warehouse destination, loaded per event instead of in periodic syncs. */
export const postgres = defineDestination({
  name: DESTINATION_NAMES.postgres,
  configSchema: postgresConfigSchema,
  supportedMessageTypes: EVENT_TYPES,
  transform: (event, config, context) => transformPostgres(event, config, context),
});
