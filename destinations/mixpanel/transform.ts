import { createHash } from 'node:crypto';
import type { FerryEvent } from '../../events/event';
import type { HttpDeliveryRequest } from '../../delivery/requests';
import { TransformError } from '../definition';
import { DESTINATION_NAMES } from '../names';
import { clientIp, definedOnly, eventTimeMs, isEmpty, textAt, userTraits, valueAt } from '../fields/event';
import type { MixpanelConfig } from './config';
import {
  CONTEXT_EVENT_PROPERTIES,
  DEVICE_ID_PREFIX,
  IDENTITY_EVENTS,
  INSERT_ID_PATTERN,
  MIXPANEL_BASE_URLS,
  NO_GEOLOCATION_QUERY,
  PLACEHOLDER_IDS,
  PROFILE_PROPERTY_BY_TRAIT,
  VIEW_EVENT_NAMES,
} from './mapping';
import type { MixpanelEvent, MixpanelEventProperties, MixpanelGroupUpdate, MixpanelProfileUpdate } from './types';

const DESTINATION = DESTINATION_NAMES.mixpanel;
const IMPORT_PATH = '/import';

/**
 * Events go to /import (which takes events of any age, unlike /track), profiles to /engage and group
 * profiles to /groups. Identity merges follow the project's ID Merge system (`identityMergeApi`).
 */
export function transformMixpanel(event: FerryEvent, config: MixpanelConfig): HttpDeliveryRequest[] {
  switch (event.type) {
    case 'track': {
      const name = event.event?.trim();
      if (!name) fail('a track event needs an event name');
      return [importRequest(config, [trackedEvent(event, config, name, event.properties)])];
    }
    case 'page':
    case 'screen':
      return [importRequest(config, [trackedEvent(event, config, VIEW_EVENT_NAMES[event.type], viewProperties(event))])];
    case 'identify':
      return identifyRequests(event, config);
    case 'group':
      return groupRequests(event, config);
    case 'alias':
      return [aliasRequest(event, config)];
  }
}

function trackedEvent(event: FerryEvent, config: MixpanelConfig, name: string, properties: Record<string, unknown> | undefined): MixpanelEvent {
  const time = eventTimeMs(event);
  if (time === undefined) fail(`the event timestamp "${event.timestamp}" is not a date`);
  // Built in place rather than spread and filtered: this runs for most events and garbage dominates its cost.
  const merged: MixpanelEventProperties = { token: config.token };
  for (const { to, from } of CONTEXT_EVENT_PROPERTIES) {
    const value = valueAt(event, from);
    if (value !== undefined) merged[to] = value;
  }
  const ip = clientIp(event);
  if (ip !== undefined) merged.ip = ip;
  if (properties) Object.assign(merged, properties);
  // Identity, time and dedup key come last so that event properties cannot override them.
  merged.token = config.token;
  merged.time = time;
  merged.$insert_id = insertId(event.messageId);
  Object.assign(merged, identity(event, config));
  return { event: name, properties: merged };
}

function viewProperties(event: FerryEvent): Record<string, unknown> | undefined {
  const name = textAt(event, ['name']);
  return name ? { ...event.properties, name } : event.properties;
}

/**
 * Original ID Merge links the anonymous and the known id with `$merge` (which needs a secret);
 * Simplified ID Merge links them on any event carrying both, so identify only updates the profile.
 */
function identifyRequests(event: FerryEvent, config: MixpanelConfig): HttpDeliveryRequest[] {
  const requests: HttpDeliveryRequest[] = [];
  if (config.identityMergeApi === 'original' && event.userId && event.anonymousId && importSecret(config)) {
    requests.push(importRequest(config, [mergeEvent(config, [distinctId(event.userId, 'userId'), distinctId(event.anonymousId, 'anonymousId')])]));
  }
  const $set: Record<string, unknown> = {};
  for (const [trait, value] of Object.entries(userTraits(event))) {
    if (value !== undefined) $set[PROFILE_PROPERTY_BY_TRAIT[trait] ?? trait] = value;
  }
  requests.push(engageRequest(config, { ...profileTarget(event, config), $set }));
  return requests;
}

/** Adds the group to the user's profile under the group key, then sets the group profile's traits. */
function groupRequests(event: FerryEvent, config: MixpanelConfig): HttpDeliveryRequest[] {
  if (!event.groupId) fail('a group event needs a groupId');
  const requests = [engageRequest(config, { ...profileTarget(event, config), $union: { [config.groupKey]: [event.groupId] } })];
  if (event.traits && !isEmpty(event.traits)) {
    const update: MixpanelGroupUpdate = { $token: config.token, $group_key: config.groupKey, $group_id: event.groupId, $set: event.traits };
    requests.push(jsonRequest(config, '/groups', [update], { strict: '1' }));
  }
  return requests;
}

function aliasRequest(event: FerryEvent, config: MixpanelConfig): HttpDeliveryRequest {
  if (config.identityMergeApi === 'simplified') {
    fail("Mixpanel's Simplified ID Merge has no alias; an event carrying both anonymousId and userId merges them");
  }
  if (!event.userId || !event.previousId) fail('an alias event needs a userId and a previousId');
  if (!importSecret(config)) {
    fail('an alias is sent as $merge, which Mixpanel accepts only with apiSecret or a service account in the destination config');
  }
  return importRequest(config, [mergeEvent(config, [distinctId(event.previousId, 'previousId'), distinctId(event.userId, 'userId')])]);
}

function mergeEvent(config: MixpanelConfig, distinctIds: string[]): MixpanelEvent {
  return { event: IDENTITY_EVENTS.merge, properties: { $distinct_ids: distinctIds, token: config.token } };
}

function identity(event: FerryEvent, config: MixpanelConfig): Pick<MixpanelEventProperties, 'distinct_id' | '$device_id' | '$user_id'> {
  if (!event.userId && !event.anonymousId) fail('the event needs a userId or an anonymousId (Mixpanel distinct_id)');
  const userId = event.userId === undefined ? undefined : distinctId(event.userId, 'userId');
  if (config.identityMergeApi === 'original') return { distinct_id: userId ?? distinctId(event.anonymousId!, 'anonymousId') };
  // The "$device:" prefix keeps a device-only id off the placeholder list whatever the anonymousId.
  return definedOnly({
    distinct_id: userId ?? `${DEVICE_ID_PREFIX}${event.anonymousId}`,
    $device_id: event.anonymousId,
    $user_id: userId,
  });
}

/**
 * An event id used as a distinct_id, unless Mixpanel would refuse it: better an abort naming the field
 * than a 400 from Mixpanel, or a $merge that joins every user who shares the placeholder. Matched as
 * listed; Mixpanel's own check answers for other spellings.
 */
function distinctId(id: string, field: 'userId' | 'anonymousId' | 'previousId'): string {
  if (PLACEHOLDER_IDS.has(id)) fail(`the event's ${field} "${id}" is a placeholder Mixpanel refuses as a distinct_id`);
  return id;
}

function profileTarget(event: FerryEvent, config: MixpanelConfig): Pick<MixpanelProfileUpdate, '$token' | '$distinct_id' | '$ip'> {
  const id = identity(event, config).distinct_id;
  if (!id) fail('the event needs a userId or an anonymousId (Mixpanel $distinct_id)');
  return definedOnly({ $token: config.token, $distinct_id: id, $ip: clientIp(event) });
}

/**
 * Mixpanel deduplicates on $insert_id but limits its shape and refuses placeholders; a stable hash keeps
 * other ids deduplicable. Placeholders match in any case here: a needless hash costs nothing.
 */
function insertId(messageId: string): string {
  const usable = INSERT_ID_PATTERN.test(messageId) && !PLACEHOLDER_IDS.has(messageId.toLowerCase());
  return usable ? messageId : createHash('sha256').update(messageId).digest('hex').slice(0, 36);
}

function importSecret(config: MixpanelConfig): boolean {
  return config.apiSecret !== undefined || config.serviceAccountSecret !== undefined;
}

/** Without credentials: authorizeMixpanel adds them as the request is sent. */
function importRequest(config: MixpanelConfig, events: MixpanelEvent[]): HttpDeliveryRequest {
  const query: Record<string, string> = { strict: '1' };
  const account = serviceAccount(config);
  if (account) query.project_id = account.projectId;
  return jsonRequest(config, IMPORT_PATH, events, query);
}

function serviceAccount(config: MixpanelConfig): { user: string; secret: string; projectId: string } | undefined {
  const { serviceAccountUserName: user, serviceAccountSecret: secret, projectId } = config;
  return user !== undefined && secret !== undefined && projectId !== undefined ? { user, secret, projectId } : undefined;
}

/**
 * /import authenticates with HTTP Basic: a service account, else the API secret (or, without one, the
 * project token) as the user with an empty password. /engage and /groups take the project token in
 * the body, which is not a secret (browsers send it). The transform builds every URL from the base URL
 * and one of these fixed paths, so the path tells an /import request apart.
 */
export function authorizeMixpanel(request: HttpDeliveryRequest, config: MixpanelConfig): HttpDeliveryRequest {
  if (!new URL(request.url).pathname.endsWith(IMPORT_PATH)) return request;
  const account = serviceAccount(config);
  const credentials = account ? `${account.user}:${account.secret}` : `${config.apiSecret ?? config.token}:`;
  return { ...request, headers: { ...request.headers, authorization: `Basic ${Buffer.from(credentials).toString('base64')}` } };
}

/** Without the end user's IP, `ip=0` keeps Mixpanel from geolocating the profile at Ferry's address. */
function engageRequest(config: MixpanelConfig, update: MixpanelProfileUpdate): HttpDeliveryRequest {
  return jsonRequest(config, '/engage', [update], update.$ip === undefined ? { strict: '1', ...NO_GEOLOCATION_QUERY } : { strict: '1' });
}

/** strict=1 makes Mixpanel answer 400 for invalid records instead of 200 and a silent drop. */
function jsonRequest(config: MixpanelConfig, path: string, body: unknown[], query: Record<string, string>): HttpDeliveryRequest {
  const base = (config.baseUrl ?? MIXPANEL_BASE_URLS[config.dataResidency]).replace(/\/+$/, '');
  const url = new URL(`${base}${path}`);
  for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
  return { kind: 'http', method: 'POST', url: url.toString(), headers: { 'content-type': 'application/json', accept: 'application/json' }, body };
}

function fail(message: string): never {
  throw new TransformError(message, DESTINATION);
}
