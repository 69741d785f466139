/** How RudderStack's event spec maps onto Mixpanel's ingestion API, as data. */

export const MIXPANEL_BASE_URLS = {
  us: 'https://api.mixpanel.com',
  eu: 'https://api-eu.mixpanel.com',
  in: 'https://api-in.mixpanel.com',
} as const;

/** Event names for page and screen views, RudderStack's defaults. */
export const VIEW_EVENT_NAMES = { page: 'Loaded a Page', screen: 'Loaded a Screen' } as const;

/** Mixpanel's identity events. */
export const IDENTITY_EVENTS = { merge: '$merge', identify: '$identify' } as const;

/** Simplified ID Merge marks a device-only distinct_id with this prefix. */
export const DEVICE_ID_PREFIX = '$device:';

/** What Mixpanel accepts as $insert_id; other messageIds are hashed into this shape. */
export const INSERT_ID_PATTERN = /^[A-Za-z0-9-]{1,36}$/;

/**
 * Values Mixpanel refuses with a 400 as distinct_id and as $insert_id, as listed (lower case) on
 * https://docs.mixpanel.com/reference/import-events: they usually mean an id that was never set.
 */
export const PLACEHOLDER_IDS: ReadonlySet<string> = new Set([
  '00000000-0000-0000-0000-000000000000', 'anon', 'anonymous', 'nil', 'none', 'null', 'n/a', 'na', 'undefined', 'unknown', '<nil>',
  '0', '-1', 'true', 'false', '[]', '{}',
]);

/**
 * /engage's `ip` query parameter: "0" stops Mixpanel geolocating the profile from the request's
 * address, which is Ferry's (https://docs.mixpanel.com/openapi/ingestion.openapi.yaml).
 */
export const NO_GEOLOCATION_QUERY = { ip: '0' } as const;

/** Event context → Mixpanel's default event properties. */
export const CONTEXT_EVENT_PROPERTIES: ReadonlyArray<{ readonly to: string; readonly from: readonly string[] }> = [
  { to: '$current_url', from: ['context', 'page', 'url'] },
  { to: '$referrer', from: ['context', 'page', 'referrer'] },
  { to: '$initial_referrer', from: ['context', 'page', 'initial_referrer'] },
  { to: '$initial_referring_domain', from: ['context', 'page', 'initial_referring_domain'] },
  { to: '$os', from: ['context', 'os', 'name'] },
  { to: '$os_version', from: ['context', 'os', 'version'] },
  { to: '$screen_height', from: ['context', 'screen', 'height'] },
  { to: '$screen_width', from: ['context', 'screen', 'width'] },
  { to: '$screen_dpi', from: ['context', 'screen', 'density'] },
  { to: '$carrier', from: ['context', 'network', 'carrier'] },
  { to: '$wifi', from: ['context', 'network', 'wifi'] },
  { to: '$device', from: ['context', 'device', 'name'] },
  { to: '$manufacturer', from: ['context', 'device', 'manufacturer'] },
  { to: '$model', from: ['context', 'device', 'model'] },
  { to: '$app_version_string', from: ['context', 'app', 'version'] },
  { to: '$app_build_number', from: ['context', 'app', 'build'] },
  { to: 'mp_lib', from: ['context', 'library', 'name'] },
  { to: '$lib_version', from: ['context', 'library', 'version'] },
  { to: 'utm_source', from: ['context', 'campaign', 'source'] },
  { to: 'utm_medium', from: ['context', 'campaign', 'medium'] },
  { to: 'utm_campaign', from: ['context', 'campaign', 'name'] },
  { to: 'utm_term', from: ['context', 'campaign', 'term'] },
  { to: 'utm_content', from: ['context', 'campaign', 'content'] },
];

/** Spec traits → Mixpanel's reserved profile properties; other traits keep their names. */
export const PROFILE_PROPERTY_BY_TRAIT: Readonly<Record<string, string>> = {
  email: '$email',
  phone: '$phone',
  name: '$name',
  firstName: '$first_name',
  firstname: '$first_name',
  first_name: '$first_name',
  lastName: '$last_name',
  lastname: '$last_name',
  last_name: '$last_name',
  username: '$username',
  userName: '$username',
  avatar: '$avatar',
  createdAt: '$created',
  created_at: '$created',
  unsubscribed: '$unsubscribed',
};
