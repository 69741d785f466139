import { mixpanelCases } from './fixtures/mixpanel';
import { transformOne } from './harness';

test.each(mixpanelCases)('MIXPANEL $id: $description', async ({ input, expected }) => {
  expect(await transformOne('MIXPANEL', input)).toStrictEqual({ messageId: input.event.messageId, ...expected });
});
