// Cron schedules on the compressed clock (CLOCK_RATE ≠ 1, benchmarks and tests only). BullMQ runs
// cron patterns on the real clock, so each cron with a fixed period becomes a fixed interval of
// period ÷ rate that starts at the real instant of its next simulated occurrence.

import { CronExpressionParser } from 'cron-parser';
import type { Clock } from '../../shared/clock.ts';

const WEEK = 7 * 86_400_000;

/** The BullMQ repeat options of `pattern` (in `tz`) on `clock`, whose rate is not 1. */
export function compressedRepeat(
  job: string,
  pattern: string,
  tz: string,
  clock: Clock,
): { every: number; startDate: number } {
  const { first, period } = fixedPeriod(job, pattern, tz, clock.now());
  // A whole number of real ms: BullMQ keeps `every` and `startDate` as integers.
  return {
    every: Math.max(1, Math.round(period / clock.rate)),
    startDate: Math.ceil(clock.realAt(first)),
  };
}

/**
 * The next occurrence of `pattern` after `simulatedNow` and its period, if it has one fixed
 * period. Crons whose day-of-month and month are `*` repeat at least weekly, so their
 * occurrences over one week after the first show whether the gaps are all equal (every N
 * minutes dividing the hour, hourly, daily, weekly — in a zone without a clock change that week).
 */
function fixedPeriod(job: string, pattern: string, tz: string, simulatedNow: number) {
  const refuse = (why: string) =>
    new Error(
      `job ${job}: its cron "${pattern}" (${tz}) cannot run on the compressed clock (CLOCK_RATE ≠ 1): ${why}. Use a cron with one fixed period (every N minutes dividing the hour, hourly, daily or weekly), or CLOCK_RATE=1`,
    );
  const fields = pattern.trim().split(/\s+/);
  const [dayOfMonth, month] = fields.length === 6 ? fields.slice(3, 5) : fields.slice(2, 4);
  if (dayOfMonth !== '*' || month !== '*') {
    throw refuse('it names days of the month or months, which have no fixed period');
  }
  const dates = CronExpressionParser.parse(pattern, { currentDate: simulatedNow, tz });
  const first = dates.next().getTime();
  const second = dates.next().getTime();
  const period = second - first;
  let previous = second;
  while (previous < first + WEEK) {
    const next = dates.next().getTime();
    if (next - previous !== period) {
      throw refuse(
        `its occurrences are not evenly spaced (${new Date(previous).toISOString()} to ${new Date(next).toISOString()} is not ${period / 60_000} minutes)`,
      );
    }
    previous = next;
  }
  return { first, period };
}
