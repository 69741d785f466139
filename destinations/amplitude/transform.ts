import type { FerryEvent } from '../../events/event';
import type { HttpDeliveryRequest } from '../../delivery/requests';
import { TransformError } from '../definition';
import { DESTINATION_NAMES } from '../names';
import { isRecord } from '../../events/json';
import { clientIp, definedOnly, eventTimeMs, isEmpty, numberAt, recordAt, textAt, userTraits } from '../fields/event';
import type { AmplitudeConfig } from './config';
import {
  ADVERTISING_ID_FIELD,
  AMPLITUDE_ENDPOINTS,
  CONTEXT_NUMBER_FIELDS,
  CONTEXT_STRING_FIELDS,
  FORM_HEADERS,
  MIN_ID_LENGTH,
  PLATFORM_BY_CHANNEL,
  REVENUE_NUMBER_FIELDS,
  REVENUE_TEXT_FIELDS,
  SPECIAL_EVENT_TYPES,
} from './mapping';
import type { AmplitudeEvent, AmplitudeGroupIdentification, AmplitudeHttpApiBody, AmplitudeUserMapping } from './types';

const DESTINATION = DESTINATION_NAMES.amplitude;

/**
 * Events go to the HTTP V2 API (https://amplitude.com/docs/apis/analytics/http-v2). Identify is a
 * `$identify` event there, as RudderStack sends it, rather than a call to the separate Identify API
 * (https://amplitude.com/docs/apis/analytics/identify): one endpoint, one JSON shape, and the event's
 * device and location context travel with it. A group joins the user to the group the same way, then
 * sets the group's properties through the Group Identify API
 * (https://amplitude.com/docs/apis/analytics/group-identify), the only documented way to set them.
 * Alias goes to the User Mapping API (https://amplitude.com/docs/apis/analytics/user-mapping). Both
 * take form fields, the API key among them, as their pages' Authentication sections say ("API key
 * passed in the body of the request"). The User Mapping page's curl example puts them in the query
 * string instead; the body also keeps the key out of URLs and proxy logs. The requests built here
 * carry no key: authorizeAmplitude adds `api_key` as each one is sent, so that it never reaches the
 * dead-letter store or workflow history.
 */
export function transformAmplitude(event: FerryEvent, config: AmplitudeConfig): HttpDeliveryRequest[] {
  switch (event.type) {
    case 'track':
      return [httpApi(config, [trackEvent(event)])];
    case 'page':
      return [httpApi(config, [viewedEvent(event, 'Page')])];
    case 'screen':
      return [httpApi(config, [viewedEvent(event, 'Screen')])];
    case 'identify':
      return [httpApi(config, [{ ...commonFields(event, SPECIAL_EVENT_TYPES.identify), user_properties: userTraits(event) }])];
    case 'group':
      return groupRequests(event, config);
    case 'alias':
      return [usermap(event, config)];
  }
}

function trackEvent(event: FerryEvent): AmplitudeEvent {
  const name = event.event?.trim();
  if (!name) fail('a track event needs an event name (Amplitude event_type)');
  const properties = event.properties;
  const amplitudeEvent: AmplitudeEvent = { ...commonFields(event, name), ...contextUserProperties(event) };
  if (properties) amplitudeEvent.event_properties = properties;
  if (typeof properties?.revenue === 'number') Object.assign(amplitudeEvent, revenueFields(properties));
  return amplitudeEvent;
}

/** Page and screen views are named like RudderStack's Amplitude destination: "Viewed <name> Page". */
function viewedEvent(event: FerryEvent, kind: 'Page' | 'Screen'): AmplitudeEvent {
  const label =
    textAt(event, ['name']) ?? (kind === 'Screen' ? textAt(event, ['event']) : undefined) ?? textAt(event, ['properties', 'category']);
  const eventType = label ? `Viewed ${label} ${kind}` : `Viewed ${kind}`;
  const eventProperties = label ? { ...event.properties, name: label } : event.properties;
  return definedOnly({ ...commonFields(event, eventType), ...contextUserProperties(event), event_properties: eventProperties });
}

/** Puts the user in the group, then sets the group's own properties from the group traits. */
function groupRequests(event: FerryEvent, config: AmplitudeConfig): HttpDeliveryRequest[] {
  if (!event.groupId) fail('a group event needs a groupId');
  const traits = event.traits ?? {};
  let groupType = config.defaultGroupType;
  let groupValue = event.groupId;
  if (config.groupTypeTrait !== undefined && config.groupValueTrait !== undefined) {
    const type = traits[config.groupTypeTrait];
    const value = traits[config.groupValueTrait];
    if (typeof type !== 'string' || type.trim() === '' || !(typeof value === 'string' || typeof value === 'number') || value === '') {
      fail(`group traits "${config.groupTypeTrait}" and "${config.groupValueTrait}" must hold the group type (text) and the group name (text or number)`);
    }
    groupType = type;
    groupValue = String(value);
  }
  const membership: AmplitudeEvent = {
    ...commonFields(event, SPECIAL_EVENT_TYPES.identify),
    groups: { [groupType]: groupValue },
    user_properties: { [groupType]: groupValue },
  };
  const requests = [httpApi(config, [membership])];
  if (!isEmpty(traits)) {
    // Plain properties, as the page's example sends them; the API would also take operations such as $set.
    const identification: AmplitudeGroupIdentification[] = [{ group_type: groupType, group_value: groupValue, group_properties: traits }];
    const url = config.groupIdentifyEndpoint ?? AMPLITUDE_ENDPOINTS[config.residencyServer].groupIdentify;
    requests.push(formRequest(url, { identification: JSON.stringify(identification) }));
  }
  return requests;
}

/** Maps previousId into userId (Amplitude's global_user_id). Needs Amplitude's Portfolio add-on. */
function usermap(event: FerryEvent, config: AmplitudeConfig): HttpDeliveryRequest {
  if (!event.userId) fail("an alias event needs a userId (Amplitude's global_user_id)");
  if (!event.previousId) fail('an alias event needs a previousId');
  const mapping: AmplitudeUserMapping[] = [{ user_id: event.previousId, global_user_id: event.userId }];
  const url = config.usermapEndpoint ?? AMPLITUDE_ENDPOINTS[config.residencyServer].usermap;
  return formRequest(url, { mapping: JSON.stringify(mapping) });
}

function formRequest(url: string, fields: Record<string, string>): HttpDeliveryRequest {
  return { kind: 'http', method: 'POST', url, headers: FORM_HEADERS, encoding: 'form', body: fields };
}

/**
 * Every Amplitude API Ferry calls takes the key as the `api_key` field of the body: a JSON property for
 * the HTTP V2 API, a form field for Group Identify and User Mapping. Put first, where the documented
 * examples have it.
 */
export function authorizeAmplitude(request: HttpDeliveryRequest, config: AmplitudeConfig): HttpDeliveryRequest {
  if (request.encoding === 'form') return { ...request, body: { api_key: config.apiKey, ...request.body } };
  if (!isRecord(request.body)) return request;
  return { ...request, body: { api_key: config.apiKey, ...request.body } };
}

function httpApi(config: AmplitudeConfig, events: AmplitudeEvent[]): HttpDeliveryRequest {
  const body: AmplitudeHttpApiBody = { events, options: { min_id_length: MIN_ID_LENGTH } };
  return {
    kind: 'http',
    method: 'POST',
    url: config.endpoint ?? AMPLITUDE_ENDPOINTS[config.residencyServer].httpApi,
    headers: { 'content-type': 'application/json', accept: '*/*' },
    body,
  };
}

/** Identity, time, dedup key and device/location context shared by every Amplitude event. */
function commonFields(event: FerryEvent, eventType: string): AmplitudeEvent {
  if (!event.userId && !event.anonymousId) fail('the event needs a userId or an anonymousId (Amplitude user_id or device_id)');
  const time = eventTimeMs(event);
  if (time === undefined) fail(`the event timestamp "${event.timestamp}" is not a date`);
  const fields: AmplitudeEvent = {
    event_type: eventType,
    user_id: event.userId,
    device_id: event.anonymousId,
    time,
    insert_id: event.messageId,
    ip: clientIp(event),
    platform: platformOf(event),
  };
  for (const { to, from } of CONTEXT_STRING_FIELDS) {
    for (const path of from) {
      const value = textAt(event, path);
      if (value !== undefined) {
        fields[to] = value;
        break;
      }
    }
  }
  for (const { to, from } of CONTEXT_NUMBER_FIELDS) fields[to] = numberAt(event, from);
  const adField = ADVERTISING_ID_FIELD[textAt(event, ['context', 'device', 'type'])?.toLowerCase() ?? ''];
  if (adField) fields[adField] = textAt(event, ['context', 'device', 'advertisingId']);
  fields.session_id = sessionId(event);
  return definedOnly(fields);
}

/** Track and view events carry the user's current traits, as RudderStack's destination sends them. */
function contextUserProperties(event: FerryEvent): Pick<AmplitudeEvent, 'user_properties'> {
  const traits = recordAt(event, ['context', 'traits']);
  return isEmpty(traits) ? {} : { user_properties: traits };
}

function revenueFields(properties: Record<string, unknown>): Partial<AmplitudeEvent> {
  const fields: Partial<AmplitudeEvent> = {};
  for (const { to, from } of REVENUE_NUMBER_FIELDS) {
    const value = properties[from];
    if (typeof value === 'number' && Number.isFinite(value)) fields[to] = value;
  }
  for (const { to, from } of REVENUE_TEXT_FIELDS) {
    const value = from.map((key) => properties[key]).find((v) => typeof v === 'string' && v !== '');
    if (typeof value === 'string') fields[to] = value;
  }
  return fields;
}

function platformOf(event: FerryEvent): string | undefined {
  const channel = typeof event.channel === 'string' ? event.channel.toLowerCase() : '';
  return PLATFORM_BY_CHANNEL[channel] ?? textAt(event, ['context', 'device', 'type']);
}

/** RudderStack SDKs send the session start (epoch ms) as context.sessionId, sometimes as a string. */
function sessionId(event: FerryEvent): number | undefined {
  const raw = numberAt(event, ['context', 'sessionId']) ?? Number(textAt(event, ['context', 'sessionId']));
  return Number.isSafeInteger(raw) && raw > 0 ? raw : undefined;
}

function fail(message: string): never {
  throw new TransformError(message, DESTINATION);
}
