/**
 * Every HTTP destination's fixture table, run by one shared test.each through the real transform
 * activity (see harness.ts).
 */
import { DESTINATION_NAMES } from '../../../destinations/names';
import { amplitudeCases } from './fixtures/amplitude';
import { ga4Cases } from './fixtures/ga4';
import { mixpanelCases } from './fixtures/mixpanel';
import { type TransformCase, transformOne } from './harness';

const TABLES: ReadonlyArray<readonly [string, readonly TransformCase[]]> = [
  [DESTINATION_NAMES.amplitude, amplitudeCases],
  [DESTINATION_NAMES.mixpanel, mixpanelCases],
  [DESTINATION_NAMES.ga4, ga4Cases],
];

const CASES = TABLES.flatMap(([destination, cases]) => cases.map((c) => ({ destination, ...c })));

test.each(CASES)('$destination $id: $description', async ({ destination, input, expected }) => {
  expect(await transformOne(destination, input)).toStrictEqual({ messageId: input.event.messageId, ...expected });
});
