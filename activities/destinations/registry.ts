import type { DestinationDefinition } from './definition';
import { webhook } from './webhook';

/** Every destination Ferry can deliver to, by `destinationDefinition.name`. */
export const DESTINATIONS: Readonly<Record<string, DestinationDefinition<never>>> = {
  [webhook.name]: webhook as DestinationDefinition<never>,
};

export function destinationDefinition(name: string): DestinationDefinition<unknown> | undefined {
  return DESTINATIONS[name] as DestinationDefinition<unknown> | undefined;
}
