import { describe, expect, it } from 'vitest';
import { buildUserIndex, deviceKey, indexMayHold, indexTester, userKey } from './user-index.ts';

describe('the per-file user index', () => {
  const held = Array.from({ length: 10_000 }, (_, i) => userKey(`user-${i}`));
  const index = buildUserIndex([...held, deviceKey('phone "1",\n')]);

  it('never misses an id the file holds', () => {
    expect(held.every(indexTester(index))).toBe(true);
    expect(indexMayHold(index, deviceKey('phone "1",\n'))).toBe(true);
  });

  it('wrongly names about one id in 10,000 it does not hold, in 24 KB for 10,000 users', () => {
    const absent = Array.from({ length: 100_000 }, (_, i) => userKey(`stranger-${i}`));
    const falsePositives = absent.filter(indexTester(index)).length;
    expect(falsePositives).toBeLessThan(50); // expected ~10 at 0.01 %
    expect(Buffer.from(index.filter, 'base64').length).toBeLessThan(25_000);
    // A user id and a device id with the same text are different keys.
    expect(indexMayHold(index, deviceKey('user-1'))).toBe(false);
  });

  it('holds nothing when the file has no ids', () => {
    const empty = buildUserIndex([]);
    expect(indexMayHold(empty, userKey('anyone'))).toBe(false);
  });
});
