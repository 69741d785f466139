/**
 * Write key lookup (Workspace.sourceByWriteKey), which compares digests in constant time: it finds a
 * source by its exact key only, whatever a guess shares with a real key.
 */
import { parseWorkspace } from '../../config/workspace';

const KEYS = { main: 'wk-2f9c7a1e5b', other: 'wk-unicode-é🙂' } as const;

const workspace = parseWorkspace(
  {
    sources: [
      { id: 'main', writeKey: KEYS.main, enabled: true, destinations: [] },
      { id: 'other', writeKey: KEYS.other, enabled: true, destinations: [] },
    ],
  },
  'write keys',
);

const CASES = [
  { id: 'exact', description: 'the exact key', input: KEYS.main, expected: 'main' },
  { id: 'unicode', description: 'a key with non-ASCII characters', input: KEYS.other, expected: 'other' },
  { id: 'prefix', description: 'a prefix of a key', input: KEYS.main.slice(0, -1), expected: undefined },
  { id: 'longer', description: 'a key with a character added', input: `${KEYS.main}0`, expected: undefined },
  { id: 'last-char', description: 'a key differing in its last character', input: `${KEYS.main.slice(0, -1)}c`, expected: undefined },
  { id: 'case', description: 'a key in another case', input: KEYS.main.toUpperCase(), expected: undefined },
  { id: 'normalization', description: 'the same text in another Unicode normal form', input: KEYS.other.normalize('NFD'), expected: undefined },
  { id: 'empty', description: 'an empty key', input: '', expected: undefined },
];

test.each(CASES)('$id: $description', ({ input, expected }) => {
  expect(workspace.sourceByWriteKey(input)?.id).toBe(expected);
});

test("a key's hex digest, the map's own key, finds nothing", async () => {
  const { createHash } = await import('node:crypto');
  expect(workspace.sourceByWriteKey(createHash('sha256').update(KEYS.main).digest('hex'))).toBeUndefined();
});
