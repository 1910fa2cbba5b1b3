import { describe, expect, it } from 'vitest';
import { isStoreUnreachable } from './store-unreachable.ts';

describe('isStoreUnreachable', () => {
  it.each([
    ["Stream isn't writeable and enableOfflineQueue options is false"],
    ['Connection is closed.'],
    ['Command timed out'],
    ['connect ECONNREFUSED 127.0.0.1:6379'],
    ['Connection terminated unexpectedly'],
    ['timeout exceeded when trying to connect'],
  ])('treats "%s" as a store that could not be reached (503)', (message) => {
    expect(isStoreUnreachable(new Error(message))).toBe(true);
  });

  it('treats Postgres connection-class SQLSTATEs as unreachable', () => {
    expect(isStoreUnreachable(Object.assign(new Error('x'), { code: '08006' }))).toBe(true);
    expect(isStoreUnreachable(Object.assign(new Error('x'), { code: '57P01' }))).toBe(true);
  });

  it('treats a bug as a bug (500), not as "retry shortly"', () => {
    expect(isStoreUnreachable(new RangeError('Maximum call stack size exceeded'))).toBe(false);
    expect(isStoreUnreachable(Object.assign(new Error('dup'), { code: '23505' }))).toBe(false);
    expect(isStoreUnreachable('not an error')).toBe(false);
  });
});
