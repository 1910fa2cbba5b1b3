import { describe, expect, it } from 'vitest';
import { isUnreachable } from './api-error.ts';

describe('isUnreachable', () => {
  it.each([
    ["Stream isn't writeable and enableOfflineQueue options is false"],
    ['Connection is closed.'],
    ['Command timed out'],
    ['connect ECONNREFUSED 127.0.0.1:6379'],
    ['Connection terminated unexpectedly'],
    ['timeout exceeded when trying to connect'],
  ])('treats "%s" as a store that could not be reached (503)', (message) => {
    expect(isUnreachable(new Error(message))).toBe(true);
  });

  it('treats Postgres connection-class SQLSTATEs as unreachable', () => {
    expect(isUnreachable(Object.assign(new Error('x'), { code: '08006' }))).toBe(true);
    expect(isUnreachable(Object.assign(new Error('x'), { code: '57P01' }))).toBe(true);
  });

  it('treats a bug as a bug (500), not as "retry shortly"', () => {
    expect(isUnreachable(new RangeError('Maximum call stack size exceeded'))).toBe(false);
    expect(isUnreachable(Object.assign(new Error('dup'), { code: '23505' }))).toBe(false);
    expect(isUnreachable('not an error')).toBe(false);
  });
});
