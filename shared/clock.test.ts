import { describe, expect, it } from 'vitest';
import { testEnv } from '../test/fixtures/config.ts';
import { createClock } from './clock.ts';
import { loadConfig } from './config/load-config.ts';

const clockEnv = {
  CLOCK_RATE: '24',
  CLOCK_ORIGIN: '2027-03-01T00:00:00Z',
  CLOCK_STARTED_AT: '2027-02-10T09:00:00.000+01:00',
};

describe('the clock from configuration', () => {
  it('is the real clock by default: now() is Date.now()', () => {
    const clock = createClock(loadConfig(testEnv()).clock);
    expect(clock.rate).toBe(1);
    const before = Date.now();
    const now = clock.now();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
    expect(clock.realAt(1_234)).toBe(1_234);
  });

  it('runs CLOCK_RATE times faster from CLOCK_ORIGIN at CLOCK_STARTED_AT', () => {
    const config = loadConfig(testEnv(clockEnv));
    const startedAt = Date.parse('2027-02-10T08:00:00Z');
    expect(config.clock).toEqual({
      rate: 24,
      originMs: Date.parse('2027-03-01T00:00:00Z'),
      startedAtMs: startedAt,
    });
    const clock = createClock(config.clock);
    // One real hour after the start is one simulated day after the origin, and back.
    expect(clock.realAt(Date.parse('2027-03-02T00:00:00Z'))).toBe(startedAt + 3_600_000);
    const simulated = clock.now();
    const expected = Date.parse('2027-03-01T00:00:00Z') + (Date.now() - startedAt) * 24;
    expect(Math.abs(simulated - expected)).toBeLessThanOrEqual(24 * 5);
  });

  it('requires CLOCK_ORIGIN and CLOCK_STARTED_AT when the rate is not 1', () => {
    expect(() => loadConfig(testEnv({ CLOCK_RATE: '24' }))).toThrow(
      /CLOCK_ORIGIN[^\n]*required when CLOCK_RATE is not 1[\s\S]*CLOCK_STARTED_AT[^\n]*required/,
    );
  });

  it('refuses a rate other than 1 in production', () => {
    expect(() => loadConfig(testEnv({ ...clockEnv, NODE_ENV: 'production' }))).toThrow(
      /CLOCK_RATE[^\n]*must be 1 when NODE_ENV=production \(the compressed clock is for benchmarks and tests only\)/,
    );
  });

  it('refuses instants without a zone, and rates of 0 or less', () => {
    expect(() => loadConfig(testEnv({ ...clockEnv, CLOCK_ORIGIN: '2027-03-01 00:00' }))).toThrow(
      /CLOCK_ORIGIN[^\n]*ISO 8601 instant with its zone/,
    );
    expect(() => loadConfig(testEnv({ ...clockEnv, CLOCK_RATE: '0' }))).toThrow(
      /CLOCK_RATE[^\n]*must be above 0/,
    );
  });
});
