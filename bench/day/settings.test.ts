import { describe, expect, it } from 'vitest';
import { daySettings } from './settings.ts';

describe("bench:day's settings", () => {
  it("default to the issue's full run", () => {
    expect(daySettings({})).toEqual({
      users: 10_000,
      seed: 1,
      days: 1,
      compression: 24,
      localTokensPerS: 1_000,
      localFailure: 0.05,
    });
    expect(daySettings({ DAY_USERS: '1000', DAY_COMPRESSION: '288' })).toMatchObject({
      users: 1_000,
      compression: 288,
    });
  });

  it('refuse bad values, saying which variable and what to send', () => {
    expect(() => daySettings({ DAY_USERS: 'many' })).toThrow(
      'DAY_USERS must be a number (got "many")',
    );
    expect(() => daySettings({ DAY_USERS: '0' })).toThrow('DAY_USERS must be a whole number ≥ 1');
    expect(() => daySettings({ DAY_COMPRESSION: '0.5' })).toThrow('DAY_COMPRESSION must be ≥ 1');
    expect(() => daySettings({ DAY_LOCAL_FAILURE: '5' })).toThrow('between 0 and 1');
    expect(() => daySettings({ DAY_DAYS: '2' })).toThrow(
      'needs the timestamps, the rollup and the export on the compressed clock',
    );
  });
});
