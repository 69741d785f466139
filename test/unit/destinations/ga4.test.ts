import { ga4Cases } from './fixtures/ga4';
import { transformOne } from './harness';

test.each(ga4Cases)('GA4 $id: $description', async ({ input, expected }) => {
  expect(await transformOne('GA4', input)).toStrictEqual({ messageId: input.event.messageId, ...expected });
});
