/**
 * createLogger censors credentials and event content wherever a log call puts them by mistake, at the
 * top of a record or one level down, and keeps the ids that correlate lines.
 */
import { Writable } from 'node:stream';
import { createLogger } from '../../config/logger';

function capture(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

const SECRET = 'do-not-log-7f3a';

describe('createLogger', () => {
  test.each([
    { id: 'header', description: 'an Authorization header of a logged request', input: { req: { headers: { authorization: `Basic ${SECRET}` } } } },
    { id: 'writeKey', description: 'a write key', input: { writeKey: SECRET } },
    { id: 'source', description: "a source's write key, one level down", input: { source: { id: 's1', writeKey: SECRET } } },
    { id: 'token', description: 'an admin token', input: { token: SECRET } },
    { id: 'properties', description: "an event's properties", input: { event: { type: 'track', properties: { email: SECRET } } } },
    { id: 'traits', description: "an identify's traits", input: { traits: { email: SECRET } } },
    { id: 'payload', description: 'a dead letter payload', input: { payload: [{ body: SECRET }] } },
    { id: 'apiKey', description: "a destination's API key", input: { config: { apiKey: SECRET } } },
  ])('leaves out $description', ({ input }) => {
    const { stream, text } = capture();
    createLogger('test', 'info', stream).info(input, 'something happened');
    expect(text()).toContain('something happened');
    expect(text()).not.toContain(SECRET);
  });

  it('keeps the ids that tie lines together', () => {
    const { stream, text } = capture();
    createLogger('test', 'info', stream).info({ workflowId: 'ferry/s1/user:ann', messageId: 'm-1', destinationId: 'hook' }, 'event delivered');
    expect(JSON.parse(text())).toMatchObject({ component: 'test', workflowId: 'ferry/s1/user:ann', messageId: 'm-1', destinationId: 'hook' });
  });
});
