/** Which text the event log cannot hold, and where it is reported. */
import { unstorableTextAt } from '../../log/storableText';

const cases: Array<{ id: string; description: string; input: unknown; expected: string | undefined }> = [
  { id: 'plain', description: 'ordinary text, numbers, null, nested', input: { a: 'é 🎉 \u0001 \t', b: [1, null, { c: 'x' }], d: true }, expected: undefined },
  { id: 'pair', description: 'a surrogate pair is one character, not a problem', input: { e: '\ud83d\ude00' }, expected: undefined },
  { id: 'escaped-text', description: 'the six characters \\u0000 as text are fine', input: { e: '\\u0000' }, expected: undefined },
  { id: 'nul-value', description: 'a NUL in a nested value', input: { properties: { note: 'a\u0000b' } }, expected: 'properties.note' },
  { id: 'nul-key', description: 'a NUL in a key, quoted as JSON', input: { traits: { ['k\u0000']: 1 } }, expected: 'traits."k\\u0000"' },
  { id: 'lone-high', description: 'an unpaired high surrogate', input: { context: { page: { title: 'x\ud800' } } }, expected: 'context.page.title' },
  { id: 'lone-low', description: 'an unpaired low surrogate', input: { a: ['ok', 'y\udc00'] }, expected: 'a[1]' },
  { id: 'array-of-objects', description: 'inside an object in an array', input: { items: [{ sku: 'a' }, { sku: '\u0000' }] }, expected: 'items[1].sku' },
  { id: 'nested-arrays', description: 'arrays within arrays', input: { m: [[1], ['\u0000']] }, expected: 'm[1][0]' },
  { id: 'top', description: 'the value itself', input: 'a\u0000', expected: '' },
];

describe('unstorableTextAt', () => {
  test.each(cases)('$id: $description', ({ input, expected }) => {
    expect(unstorableTextAt(input)).toBe(expected);
  });
});
