import type { FerryEvent } from '../../events/event';
import type { HttpDeliveryRequest } from '../../delivery/requests';
import { TransformError, type TransformContext } from '../definition';
import { DESTINATION_NAMES } from '../names';
import { isRecord } from '../../events/json';
import { definedOnly, eventTimeMs, recordAt, textAt } from '../fields/event';
import type { Ga4Config } from './config';
import {
  GA4_DEFAULT_BASE_URL,
  GA4_LIMITS,
  GA4_PATHS,
  ITEM_FIELDS,
  MESSAGE_EVENT_NAMES,
  PAGE_PARAMS,
  PARAM_VALUE_LENGTH,
  PII_TRAITS,
  RECOMMENDED_EVENTS,
  RECOMMENDED_PARAM_NAMES,
  RESERVED_EVENT_NAMES,
  RESERVED_NAME_PREFIXES,
  RESERVED_USER_PROPERTY_NAMES,
  SINGLE_ITEM_EVENTS,
  VALUE_PROPERTIES,
} from './mapping';
import type { Ga4Event, Ga4Item, Ga4MeasurementBody, Ga4ParamValue, Ga4UserProperty } from './types';

const DESTINATION = DESTINATION_NAMES.ga4;

type Params = NonNullable<Ga4Event['params']>;

/**
 * One Measurement Protocol request per event. GA4 answers 2xx even for events it discards, so events
 * GA4 would silently drop (too old, reserved or too long names) abort here instead, where the
 * dead-letter store shows them.
 */
export function transformGa4(event: FerryEvent, config: Ga4Config, context?: Pick<TransformContext, 'now'>): HttpDeliveryRequest[] {
  const time = eventTimeMs(event);
  if (time === undefined) fail(`the event timestamp "${event.timestamp}" is not a date`);
  checkAge(event, time, context?.now);
  const clientId = event.anonymousId ?? (config.clientIdFallback === 'rudderId' ? event.rudderId : undefined);
  if (!clientId) fail('the event has no anonymousId for the GA4 client_id (clientIdFallback is "none")');
  const body: Ga4MeasurementBody = definedOnly({
    client_id: clientId,
    user_id: event.userId,
    timestamp_micros: time * 1000,
    user_properties: userProperties(event),
    events: [ga4Event(event)],
  });
  const url = new URL(`${(config.baseUrl ?? GA4_DEFAULT_BASE_URL).replace(/\/+$/, '')}${config.debugMode ? GA4_PATHS.validate : GA4_PATHS.collect}`);
  // The api_secret is added as the request is sent (authorizeGa4), so stored requests never hold it.
  url.searchParams.set('measurement_id', config.measurementId);
  return [{ kind: 'http', method: 'POST', url: url.toString(), headers: { 'content-type': 'application/json' }, body }];
}

/** The Measurement Protocol takes its secret only as the `api_secret` query parameter. */
export function authorizeGa4(request: HttpDeliveryRequest, config: Ga4Config): HttpDeliveryRequest {
  const url = new URL(request.url);
  url.searchParams.set('api_secret', config.apiSecret);
  return { ...request, url: url.toString() };
}

/**
 * The event's age by the caller's clock, else at the time Ferry received it. Delivery retries can still
 * age an event past the limit after this check; GA4 then drops it unseen.
 */
function checkAge(event: FerryEvent, time: number, now: number | undefined): void {
  const reference = now ?? Date.parse(event.receivedAt);
  const age = reference - time;
  // NaN (an unparseable receivedAt) compares false: such an event is sent, as before.
  if (!(age > GA4_LIMITS.maxEventAgeMs)) return;
  const hours = Math.floor(age / 3_600_000);
  const limit = `GA4 drops events more than ${GA4_LIMITS.maxEventAgeMs / 3_600_000} hours old`;
  if (now === undefined) fail(`${limit}: this one was received ${hours} hours after its timestamp ${event.timestamp}`);
  fail(`${limit}: this one was ${hours} hours old at ${new Date(now).toISOString()} (timestamp ${event.timestamp})`);
}

function ga4Event(event: FerryEvent): Ga4Event {
  switch (event.type) {
    case 'track':
      return trackEvent(event);
    case 'page': {
      const properties = event.properties ?? {};
      const params: Params = {};
      for (const { to, property, context } of PAGE_PARAMS) {
        const value = textAt(properties, [property]) ?? textAt(event, context);
        if (value !== undefined) params[to] = value;
      }
      const mapped = new Set(PAGE_PARAMS.map((p) => p.property));
      return withParams(MESSAGE_EVENT_NAMES.page, params, properties, mapped);
    }
    case 'group':
      if (!event.groupId) fail('a group event needs a groupId');
      return withParams(MESSAGE_EVENT_NAMES.group, { group_id: event.groupId }, event.traits ?? {}, new Set());
    case 'identify':
    case 'screen':
    case 'alias':
      // Filtered before transform by supportedMessageTypes; kept total so a misuse fails loudly.
      return fail(`GA4 takes no ${event.type} events`);
  }
}

function trackEvent(event: FerryEvent): Ga4Event {
  const raw = event.event?.trim();
  if (!raw) fail('a track event needs an event name');
  const properties = event.properties ?? {};
  const recommended = RECOMMENDED_EVENTS[raw];
  if (!recommended) return withParams(customEventName(raw), {}, properties, new Set());
  const params: Params = {};
  const mapped = new Set<string>(['products', ...VALUE_PROPERTIES]);
  for (const [from, to] of Object.entries(RECOMMENDED_PARAM_NAMES)) {
    const value = paramValue(to, properties[from]);
    if (value !== undefined) {
      params[to] = value;
      mapped.add(from);
    }
  }
  const value = VALUE_PROPERTIES.map((key) => properties[key]).find((v) => typeof v === 'number' && Number.isFinite(v));
  if (typeof value === 'number') params.value = value;
  const items = itemsOf(recommended, properties, mapped);
  if (items.length > 0) params.items = items;
  return withParams(recommended, params, properties, mapped);
}

/** Track event names become snake_case; GA4 drops names it does not allow, so those abort here. */
function customEventName(raw: string): string {
  const name = raw
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (!/^[a-z]/.test(name)) fail(`GA4 event names must start with a letter; track event "${raw}" becomes "${name}"`);
  if (name.length > GA4_LIMITS.eventNameLength) {
    fail(`GA4 event names are at most ${GA4_LIMITS.eventNameLength} characters; track event "${raw}" becomes "${name}" (${name.length})`);
  }
  if (RESERVED_EVENT_NAMES.has(name) || hasReservedPrefix(name)) fail(`GA4 reserves the event name "${name}" (from track event "${raw}")`);
  return name;
}

function itemsOf(eventName: string, properties: Record<string, unknown>, mapped: Set<string>): Ga4Item[] {
  const products = properties.products;
  if (Array.isArray(products)) {
    return products.map((product, index) => {
      if (!isRecord(product)) fail(`properties.products[${index}] is not an object`);
      return item(product, `properties.products[${index}]`);
    });
  }
  if (!SINGLE_ITEM_EVENTS.has(eventName)) return [];
  for (const { from } of ITEM_FIELDS) for (const key of from) mapped.add(key);
  return [item(properties, 'properties')];
}

function item(product: Record<string, unknown>, where: string): Ga4Item {
  const out: Ga4Item = {};
  for (const { to, from } of ITEM_FIELDS) {
    for (const key of from) {
      const value = paramValue(to, product[key]);
      if (value !== undefined) {
        out[to] = value;
        break;
      }
    }
  }
  if (out.item_id === undefined && out.item_name === undefined) fail(`${where} needs a product_id, sku or name (GA4 item_id or item_name)`);
  return out;
}

/** Adds the remaining properties as custom parameters, within GA4's naming rules and count limit. */
function withParams(name: string, mappedParams: Params, properties: Record<string, unknown>, mapped: ReadonlySet<string>): Ga4Event {
  const params: Params = { ...mappedParams };
  let count = Object.keys(params).length;
  for (const [key, raw] of Object.entries(properties)) {
    if (count >= GA4_LIMITS.paramsPerEvent) break;
    if (mapped.has(key)) continue;
    const paramName = ga4Name(key, GA4_LIMITS.paramNameLength);
    if (paramName === undefined || paramName in params) continue;
    const value = paramValue(paramName, raw);
    if (value === undefined) continue;
    params[paramName] = value;
    count += 1;
  }
  return count > 0 ? { name, params } : { name };
}

/** The user's current traits as user properties, without personal data GA4 must not receive. */
function userProperties(event: FerryEvent): Record<string, Ga4UserProperty> | undefined {
  const traits = recordAt(event, ['context', 'traits']);
  if (!traits) return undefined;
  const out: Record<string, Ga4UserProperty> = {};
  let count = 0;
  for (const [key, raw] of Object.entries(traits)) {
    if (count >= GA4_LIMITS.userProperties) break;
    if (PII_TRAITS.has(key)) continue;
    const name = ga4Name(key, GA4_LIMITS.userPropertyNameLength);
    if (name === undefined || RESERVED_USER_PROPERTY_NAMES.has(name)) continue;
    const value = primitive(raw, GA4_LIMITS.userPropertyValueLength);
    if (value === undefined) continue;
    out[name] = { value };
    count += 1;
  }
  return count > 0 ? out : undefined;
}

/** A parameter or user property name GA4 accepts, or undefined: such properties are left out. */
function ga4Name(key: string, maxLength: number): string | undefined {
  const name = key.trim().replace(/[^A-Za-z0-9_]+/g, '_');
  if (!/^[A-Za-z]/.test(name) || name.length > maxLength || hasReservedPrefix(name.toLowerCase())) return undefined;
  return name;
}

function paramValue(name: string, raw: unknown): Ga4ParamValue | undefined {
  return primitive(raw, PARAM_VALUE_LENGTH[name] ?? GA4_LIMITS.paramValueLength);
}

/** GA4 takes text and numbers; longer text is cut to GA4's limit rather than dropped. */
function primitive(raw: unknown, maxLength: number): Ga4ParamValue | undefined {
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : undefined;
  if (typeof raw === 'boolean') return String(raw);
  if (typeof raw === 'string') return raw.length > maxLength ? raw.slice(0, maxLength) : raw;
  return undefined;
}

function hasReservedPrefix(name: string): boolean {
  return RESERVED_NAME_PREFIXES.some((prefix) => name.startsWith(prefix));
}

function fail(message: string): never {
  throw new TransformError(message, DESTINATION);
}
