/**
 * GA4's backdating limit against the clock a caller passes in TransformContext.now; without one, the
 * fixture table (transforms.test.ts) covers the fallback, the time Ferry received the event.
 * https://developers.google.com/analytics/devguides/collection/protocol/ga4/reference (timestamp_micros:
 * "Events can be backdated up to 3 calendar days").
 */
import { TransformError } from '../../../destinations/definition';
import { ga4 } from '../../../destinations/ga4';
import { ga4ConfigSchema } from '../../../destinations/ga4/config';
import { fixtureEvent } from './harness';

const HOUR = 3_600_000;
const config = ga4ConfigSchema.parse({ apiSecret: 'ga-secret', measurementId: 'G-TEST123', baseUrl: 'http://127.0.0.1:9' });
// Received a second after its timestamp: fresh by the fallback clock.
const event = fixtureEvent({}, { type: 'track', event: 'Signed Up', timestamp: '2024-05-01T10:00:00.000Z', receivedAt: '2024-05-01T10:00:01.000Z' });
const timestamp = Date.parse(event.timestamp);

function transformAt(now: number | undefined) {
  return () => ga4.transform(event, config, { destinationId: 'dest', now });
}

it('sends an event up to 72 hours old by the given clock', () => {
  expect(transformAt(timestamp + 72 * HOUR)()).toHaveLength(1);
});

it('aborts an event more than 72 hours old by the given clock, even one received fresh', () => {
  const run = transformAt(timestamp + 73 * HOUR);
  expect(run).toThrow(TransformError);
  expect(run).toThrow('GA4 drops events more than 72 hours old: this one was 73 hours old at 2024-05-04T11:00:00.000Z (timestamp 2024-05-01T10:00:00.000Z)');
});

it('falls back to the time Ferry received the event', () => {
  expect(transformAt(undefined)()).toHaveLength(1);
});
