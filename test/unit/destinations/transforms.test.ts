/**
 * Every HTTP destination's fixture table, run by one shared test.each through the real transform
 * activity (see harness.ts). A table's expected requests are the vendor's documented wire form,
 * credentials included, as the deliver step sends them after the destination's `authorize`; the
 * requests the transform returns, which dead letters store, must hold none of the credentials.
 */
import { DESTINATION_NAMES } from '../../../destinations/names';
import { amplitudeCases } from './fixtures/amplitude';
import { ga4Cases } from './fixtures/ga4';
import { mixpanelCases } from './fixtures/mixpanel';
import { type TransformCase, transformAndAuthorize } from './harness';

/** Each table, with the credentials its configs hold: they must be on the wire and nowhere else. */
const TABLES: ReadonlyArray<readonly [string, readonly TransformCase[], readonly string[]]> = [
  [DESTINATION_NAMES.amplitude, amplitudeCases, ['amp-key']],
  [DESTINATION_NAMES.mixpanel, mixpanelCases, ['mp-secret', 'svc-secret']],
  [DESTINATION_NAMES.ga4, ga4Cases, ['ga-secret']],
];

const CASES = TABLES.flatMap(([destination, cases, secrets]) => cases.map((c) => ({ destination, secrets, ...c })));

/** The outcome as text, with HTTP Basic credentials decoded, so that an encoded secret is found too. */
function searchable(value: unknown): string {
  const text = JSON.stringify(value);
  const basic = [...text.matchAll(/Basic ([A-Za-z0-9+/=]+)/g)].map((m) => Buffer.from(m[1]!, 'base64').toString('utf8'));
  return [text, ...basic].join('\n');
}

test.each(CASES)('$destination $id: $description', async ({ destination, input, expected }) => {
  const { sent } = await transformAndAuthorize(destination, input);
  expect(sent).toStrictEqual({ messageId: input.event.messageId, ...expected });
});

test.each(CASES)('$destination $id: the stored requests hold no credential', async ({ destination, input, secrets }) => {
  const { stored } = await transformAndAuthorize(destination, input);
  const text = searchable(stored);
  expect(secrets.filter((secret) => text.includes(secret))).toEqual([]);
});

test('the secrets above are in the fixtures, so the check above can fail', async () => {
  const sent = await Promise.all(CASES.map(({ destination, input }) => transformAndAuthorize(destination, input).then((o) => o.sent)));
  const text = searchable(sent);
  expect(TABLES.flatMap(([, , secrets]) => secrets).filter((secret) => !text.includes(secret))).toEqual([]);
});
