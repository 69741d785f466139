/**
 * The event spec at the HTTP boundary: strict where RudderStack's and Segment's spec is strict
 * (a track needs an event name, a group a groupId, an alias a previousId; every event needs a user),
 * lenient where SDKs differ (extra fields are kept, ids may be numbers).
 */
import { z } from 'zod';
import { EVENT_TYPES, type EventType } from '../events/event';
import { isRecord } from '../events/json';

/** SDKs send ids as strings, some as numbers; blank means absent. */
const id = z
  .union([z.string(), z.number()])
  .transform((v) => String(v).trim())
  .transform((v) => (v === '' ? undefined : v));

const timestamp = z
  .string()
  .optional()
  .catch(undefined)
  .transform((v) => (v !== undefined && !Number.isNaN(Date.parse(v)) ? new Date(v).toISOString() : undefined));

/**
 * A JSON object, kept as sent. Not z.record: that copies the object key by key and leaves out a
 * `__proto__` key (assigned to the copy, it would replace its prototype), silently dropping that
 * part of the event. JSON.parse makes such a key an ordinary property, as at every deeper level.
 */
const objectField = z.custom<Record<string, unknown>>(isRecord, 'Invalid input: expected an object');

export const eventSchema = z
  .looseObject({
    type: z.enum(EVENT_TYPES),
    messageId: id.optional(),
    userId: id.optional().nullable().transform((v) => v ?? undefined),
    anonymousId: id.optional().nullable().transform((v) => v ?? undefined),
    timestamp,
    originalTimestamp: timestamp,
    sentAt: timestamp,
    event: z.string().optional(),
    name: z.string().optional().nullable().transform((v) => v ?? undefined),
    properties: objectField.optional(),
    traits: objectField.optional(),
    context: objectField.optional(),
    integrations: objectField.optional(),
    groupId: id.optional(),
    previousId: id.optional(),
  })
  .superRefine((event, ctx) => {
    if (!event.userId && !event.anonymousId) {
      ctx.addIssue({ code: 'custom', message: 'the event needs a userId or an anonymousId', path: ['userId'] });
    }
    if (event.type === 'track' && !event.event?.trim()) {
      ctx.addIssue({ code: 'custom', message: 'a track event needs an event name', path: ['event'] });
    }
    if (event.type === 'group' && !event.groupId) {
      ctx.addIssue({ code: 'custom', message: 'a group event needs a groupId', path: ['groupId'] });
    }
    if (event.type === 'alias' && !event.previousId) {
      ctx.addIssue({ code: 'custom', message: 'an alias event needs a previousId', path: ['previousId'] });
    }
  });
export type ValidEvent = z.infer<typeof eventSchema>;

export const batchBodySchema = z.looseObject({
  batch: z.array(z.unknown()),
  sentAt: timestamp,
  context: objectField.optional(),
  integrations: objectField.optional(),
});
export type BatchBody = z.infer<typeof batchBodySchema>;

export function isEventType(value: unknown): value is EventType {
  return typeof value === 'string' && (EVENT_TYPES as readonly string[]).includes(value);
}
