import { amplitude } from './amplitude';
import type { DestinationDefinition } from './definition';
import { ga4 } from './ga4';
import { mixpanel } from './mixpanel';
import { postgres } from './postgres';
import { webhook } from './webhook';

/** Every destination Ferry can deliver to, by `destinationDefinition.name`. */
export const DESTINATIONS: Readonly<Record<string, DestinationDefinition<never>>> = {
  [webhook.name]: webhook as DestinationDefinition<never>,
  [amplitude.name]: amplitude as DestinationDefinition<never>,
  [mixpanel.name]: mixpanel as DestinationDefinition<never>,
  [ga4.name]: ga4 as DestinationDefinition<never>,
  [postgres.name]: postgres as DestinationDefinition<never>,
};

export function destinationDefinition(name: string): DestinationDefinition<unknown> | undefined {
  return DESTINATIONS[name] as DestinationDefinition<unknown> | undefined;
}
