/**
 * Which errors mean "could not reach it" (an outage: not counted as Ferry's own failure, and the CLI's
 * exit code 4) and which mean a reachable service answered with an error (a bug or a broken schema).
 */
import { isUnavailableError } from '../../db/unavailable';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('isUnavailableError', () => {
  it.each([
    ['a refused connection', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    ['PostgreSQL shutting down (57P01)', withCode('terminating connection due to administrator command', '57P01')],
    ['too many connections (53300)', withCode('sorry, too many clients already', '53300')],
    ['a dropped connection', new Error('Connection terminated unexpectedly')],
    ['a pool that could not connect in time', new Error('timeout exceeded when trying to connect')],
    ['an outage deep in the cause chain', new Error('could not read the log', { cause: new Error('query failed', { cause: withCode('connect ECONNREFUSED', 'ECONNREFUSED') }) })],
    ['one of several attempts', new AggregateError([new Error('x'), withCode('connect ETIMEDOUT', 'ETIMEDOUT')], 'all attempts failed')],
  ])('is an outage: %s', (_what, err) => {
    expect(isUnavailableError(err)).toBe(true);
  });

  it.each([
    ['a missing table (42P01)', withCode('relation "delivery_outcomes" does not exist', '42P01')],
    ['a constraint violation (23505)', withCode('duplicate key value violates unique constraint', '23505')],
    ['a plain bug', new TypeError("Cannot read properties of undefined (reading 'seq')")],
    ['not an error at all', 'ECONNREFUSED'],
  ])('is not an outage: %s', (_what, err) => {
    expect(isUnavailableError(err)).toBe(false);
  });
});
