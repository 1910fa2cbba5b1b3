import type { ClockConfig } from './config/clock-config.ts';

/**
 * The processes' clock, from configuration (`CLOCK_RATE`, `CLOCK_ORIGIN`, `CLOCK_STARTED_AT`).
 * At rate 1 — always, in production — `now()` is `Date.now()`: there is no second code path.
 * At another rate (benchmarks and tests only) simulated time runs `rate` times faster:
 * simulated now = origin + (real now − startedAt) × rate.
 */
export interface Clock {
  readonly rate: number;
  /** Simulated epoch ms now. */
  now(): number;
  /** The real epoch ms at which the clock reads `simulatedMs`. */
  realAt(simulatedMs: number): number;
}

const realClock: Clock = { rate: 1, now: () => Date.now(), realAt: (ms) => ms };

export function createClock(config: ClockConfig): Clock {
  const { rate, originMs, startedAtMs } = config;
  if (rate === 1) return realClock;
  if (originMs === undefined || startedAtMs === undefined) {
    // loadConfig refuses this; a hand-built config gets the same message.
    throw new Error('CLOCK_ORIGIN and CLOCK_STARTED_AT are required when CLOCK_RATE is not 1');
  }
  return {
    rate,
    now: () => originMs + (Date.now() - startedAtMs) * rate,
    realAt: (simulatedMs) => startedAtMs + (simulatedMs - originMs) / rate,
  };
}
