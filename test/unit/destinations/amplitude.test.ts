import { amplitudeCases } from './fixtures/amplitude';
import { transformOne } from './harness';

test.each(amplitudeCases)('AMPLITUDE $id: $description', async ({ input, expected }) => {
  expect(await transformOne('AMPLITUDE', input)).toStrictEqual({ messageId: input.event.messageId, ...expected });
});
