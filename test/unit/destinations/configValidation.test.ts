import { ConfigError } from '../../../config/errors';
import { parseWorkspace } from '../../../config/workspace';
import { configCases } from './fixtures/destinationConfigs';

function problemsOf(destinations: (typeof configCases)[number]['input']['destinations']): string[] {
  const document = {
    sources: [
      {
        id: 'src',
        writeKey: 'write-key',
        enabled: true,
        destinations: destinations.map(({ name, config }, i) => ({ id: `dest-${i}`, enabled: true, destinationDefinition: { name }, config })),
      },
    ],
  };
  try {
    parseWorkspace(document, 'fixture');
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const [header, ...problems] = err.message.split('\n');
    expect(header).toBe('invalid workspace config fixture:');
    return problems;
  }
}

test.each(configCases)('destination config $id: $description', ({ input, expected }) => {
  expect(problemsOf(input.destinations)).toEqual(expected.problems);
});
