/** How RudderStack's event spec maps onto Amplitude's HTTP V2, Group Identify and User Mapping APIs, as data. */
import type { AmplitudeEvent } from './types';

/**
 * The hosts each API's page lists: https://amplitude.com/docs/apis/analytics/http-v2,
 * https://amplitude.com/docs/apis/analytics/group-identify and https://amplitude.com/docs/apis/analytics/user-mapping.
 */
export const AMPLITUDE_ENDPOINTS = {
  standard: {
    httpApi: 'https://api2.amplitude.com/2/httpapi',
    groupIdentify: 'https://api2.amplitude.com/groupidentify',
    usermap: 'https://api.amplitude.com/usermap',
  },
  EU: {
    httpApi: 'https://api.eu.amplitude.com/2/httpapi',
    groupIdentify: 'https://api.eu.amplitude.com/groupidentify',
    usermap: 'https://api.eu.amplitude.com/usermap',
  },
} as const;

/** Amplitude's reserved event type for user property updates. */
export const SPECIAL_EVENT_TYPES = { identify: '$identify' } as const;

/** The Group Identify and User Mapping APIs take form fields, not JSON. */
export const FORM_HEADERS = { 'content-type': 'application/x-www-form-urlencoded' } as const;

/** RudderStack sends ids as short as 1 character; Amplitude's default minimum is 5. */
export const MIN_ID_LENGTH = 1;

/** Optional fields of the given type: the ones a mapping may fill in. */
type OptionalFieldOf<V> = {
  [K in keyof AmplitudeEvent]-?: undefined extends AmplitudeEvent[K] ? (NonNullable<AmplitudeEvent[K]> extends V ? K : never) : never;
}[keyof AmplitudeEvent];

/** Event context → Amplitude event fields; the first path with a value wins. */
export const CONTEXT_STRING_FIELDS: ReadonlyArray<{ readonly to: OptionalFieldOf<string>; readonly from: readonly (readonly string[])[] }> = [
  { to: 'app_version', from: [['context', 'app', 'version']] },
  { to: 'os_name', from: [['context', 'os', 'name']] },
  { to: 'os_version', from: [['context', 'os', 'version']] },
  { to: 'device_brand', from: [['context', 'device', 'brand']] },
  { to: 'device_manufacturer', from: [['context', 'device', 'manufacturer']] },
  { to: 'device_model', from: [['context', 'device', 'model']] },
  { to: 'carrier', from: [['context', 'network', 'carrier']] },
  { to: 'country', from: [['context', 'location', 'country'], ['context', 'traits', 'address', 'country']] },
  { to: 'region', from: [['context', 'location', 'region'], ['context', 'traits', 'address', 'state']] },
  { to: 'city', from: [['context', 'location', 'city'], ['context', 'traits', 'address', 'city']] },
  { to: 'dma', from: [['context', 'location', 'dma']] },
  { to: 'language', from: [['context', 'locale']] },
];

export const CONTEXT_NUMBER_FIELDS: ReadonlyArray<{ readonly to: OptionalFieldOf<number>; readonly from: readonly string[] }> = [
  { to: 'location_lat', from: ['context', 'location', 'latitude'] },
  { to: 'location_lng', from: ['context', 'location', 'longitude'] },
];

/** The platform Amplitude shows, from RudderStack's `channel`; other channels use context.device.type. */
export const PLATFORM_BY_CHANNEL: Readonly<Record<string, string>> = { web: 'Web', server: 'Server' };

/** Mobile advertising ids, by context.device.type (lower-cased). */
export const ADVERTISING_ID_FIELD: Readonly<Record<string, 'idfa' | 'adid'>> = { ios: 'idfa', ipados: 'idfa', tvos: 'idfa', android: 'adid' };

/** Revenue fields Amplitude reads at the top level of a track event that has `properties.revenue`. */
export const REVENUE_NUMBER_FIELDS: ReadonlyArray<{ readonly to: 'price' | 'quantity' | 'revenue'; readonly from: string }> = [
  { to: 'revenue', from: 'revenue' },
  { to: 'price', from: 'price' },
  { to: 'quantity', from: 'quantity' },
];
export const REVENUE_TEXT_FIELDS: ReadonlyArray<{ readonly to: 'productId' | 'revenueType'; readonly from: readonly string[] }> = [
  { to: 'productId', from: ['product_id', 'productId'] },
  { to: 'revenueType', from: ['revenue_type', 'revenueType'] },
];
