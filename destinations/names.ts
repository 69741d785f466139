/** Each destination kind's `destinationDefinition.name`, as RudderStack's backend config spells it. */
export const DESTINATION_NAMES = {
  webhook: 'WEBHOOK',
  amplitude: 'AMPLITUDE',
  mixpanel: 'MIXPANEL',
  ga4: 'GA4',
  postgres: 'POSTGRES',
} as const;
export type DestinationName = (typeof DESTINATION_NAMES)[keyof typeof DESTINATION_NAMES];
