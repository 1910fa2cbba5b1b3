import { z } from 'zod';
import type { ConfigIssue } from '../errors/config-error.ts';

/**
 * The compressed clock (`CLOCK_RATE`, `CLOCK_ORIGIN`, `CLOCK_STARTED_AT`) — for benchmarks and
 * tests only, refused in production. At rate 1 (the default) the clock is the real one.
 */
export interface ClockConfig {
  /** Simulated ms per real ms. */
  rate: number;
  /** The simulated instant at `startedAtMs` (epoch ms); set whenever the rate is not 1. */
  originMs?: number;
  /** The real instant that maps to `originMs` (epoch ms); set whenever the rate is not 1. */
  startedAtMs?: number;
}

/** `CLOCK_ORIGIN` / `CLOCK_STARTED_AT`: an ISO 8601 instant with its zone, to epoch ms. */
export const instantField = () =>
  z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/, {
      message: 'must be an ISO 8601 instant with its zone, like 2027-03-01T00:00:00Z',
    })
    .transform((text, ctx) => {
      const ms = Date.parse(text);
      if (Number.isNaN(ms)) {
        ctx.addIssue({ code: 'custom', message: 'is not a valid date and time' });
        return z.NEVER;
      }
      return ms;
    });

/** The clock section of the config; problems go to `issues`. */
export function clockConfig(
  raw: {
    NODE_ENV: string;
    CLOCK_RATE: number;
    CLOCK_ORIGIN?: number | undefined;
    CLOCK_STARTED_AT?: number | undefined;
  },
  issues: ConfigIssue[],
): ClockConfig {
  const rate = raw.CLOCK_RATE;
  if (rate === 1) return { rate };
  if (raw.NODE_ENV === 'production') {
    issues.push({
      variable: 'CLOCK_RATE',
      problem: `is ${rate}, but must be 1 when NODE_ENV=production (the compressed clock is for benchmarks and tests only)`,
      example: '1',
    });
  }
  for (const variable of ['CLOCK_ORIGIN', 'CLOCK_STARTED_AT'] as const) {
    if (raw[variable] === undefined) {
      issues.push({
        variable,
        problem: `is required when CLOCK_RATE is not 1 (every process of a run must agree on it; CLOCK_RATE is ${rate})`,
        example: '2027-03-01T00:00:00Z',
      });
    }
  }
  return { rate, originMs: raw.CLOCK_ORIGIN, startedAtMs: raw.CLOCK_STARTED_AT };
}
