import type { CostsConfig } from '../../shared/config/costs-config.ts';
import { utcDay } from '../../shared/db/partitions.ts';

/** One line of the headroom table: what is used of a plan limit, and when it runs out. */
export interface HeadroomLine {
  resource: string;
  unit: 'bytes' | 'tokens';
  used: number;
  limit: number;
  /** Growth per day over the last 7 days; null without two days to compare. */
  perDay: number | null;
  /** `YYYY-MM-DD`, or why there is no date. */
  reached: string;
}

const DAY_MS = 86_400_000;
const daysBetween = (a: string, b: string) => (Date.parse(b) - Date.parse(a)) / DAY_MS;

/**
 * Growth per day over the last 7 days of a daily series (oldest first): from the earliest point
 * within 7 days of the last to the last. Null with fewer than two days.
 */
export function growthPerDay(series: { day: string; value: number }[]): number | null {
  const last = series.at(-1);
  if (!last) return null;
  const first = series.find((p) => daysBetween(p.day, last.day) <= 7);
  if (!first || first.day === last.day) return null;
  return (last.value - first.value) / daysBetween(first.day, last.day);
}

/** The day `used` reaches `limit` at `perDay` from `today`, or why it does not. */
export function reachedOn(
  used: number,
  limit: number,
  perDay: number | null,
  today: string,
): string {
  if (used >= limit) return 'reached';
  if (perDay === null) return 'needs 2 days of history';
  if (perDay <= 0) return 'not at this growth';
  return utcDay(new Date(`${today}T00:00:00Z`), Math.ceil((limit - used) / perDay));
}

export interface HeadroomInput {
  today: string;
  costs: CostsConfig;
  /** Now: the database's bytes and Redis's used memory; Redis's `maxmemory` (0: none). */
  now: { postgresBytes: number; redisBytes: number; redisMaxBytes: number };
  /** The rollup's daily samples of the same, oldest first. */
  samples: { day: string; postgresBytes: number; redisBytes: number }[];
  /** `cost_daily` of the last 30 days or more, oldest first. */
  days: { day: string; storageBytes: number; localOutputTokens: number }[];
}

/**
 * The headroom table: Postgres on the fleet box's disk, Redis in its memory (or `maxmemory`
 * when set), cold bytes against object storage's free tier, and this month's local model
 * output against what the model boxes can serve in a month — each with the date it would be
 * reached at the last 7 days' growth.
 */
export function headroom(input: HeadroomInput): HeadroomLine[] {
  const { today, costs, now } = input;
  const withNow = (pick: (s: HeadroomInput['samples'][number]) => number, current: number) => [
    ...input.samples.filter((s) => s.day < today).map((s) => ({ day: s.day, value: pick(s) })),
    { day: today, value: current },
  ];
  const line = (
    resource: string,
    used: number,
    limit: number,
    series: { day: string; value: number }[],
  ): HeadroomLine => {
    const perDay = growthPerDay(series);
    return {
      resource,
      unit: 'bytes',
      used,
      limit,
      perDay,
      reached: reachedOn(used, limit, perDay, today),
    };
  };
  const redisLimit = now.redisMaxBytes > 0 ? now.redisMaxBytes : costs.limits.redisMb * 2 ** 20;
  const storage = input.days.map((d) => ({ day: d.day, value: d.storageBytes }));
  return [
    line(
      'Postgres (hot rows, ledgers)',
      now.postgresBytes,
      costs.limits.postgresGb * 1e9,
      withNow((s) => s.postgresBytes, now.postgresBytes),
    ),
    line(
      'Redis memory',
      now.redisBytes,
      redisLimit,
      withNow((s) => s.redisBytes, now.redisBytes),
    ),
    line(
      'Object storage (cold Parquet)',
      storage.at(-1)?.value ?? 0,
      costs.storage.freeGb * 1e9,
      storage,
    ),
    monthTokens(input),
  ];
}

/** This month's local output tokens against the model boxes' monthly capacity. */
function monthTokens(input: HeadroomInput): HeadroomLine {
  const { today, costs } = input;
  const month = today.slice(0, 7);
  const [year = 0, m = 1] = month.split('-').map(Number);
  const daysInMonth = new Date(Date.UTC(year, m, 0)).getUTCDate();
  const limit =
    Math.max(1, costs.modelBox.min) * costs.modelBox.outputTokensPerSecond * 86_400 * daysInMonth;
  const used = input.days
    .filter((d) => d.day.startsWith(month))
    .reduce((n, d) => n + d.localOutputTokens, 0);
  // The last 7 complete days' mean: today is still counting.
  const week = input.days.filter((d) => d.day < today && daysBetween(d.day, today) <= 7);
  const perDay =
    week.length === 0 ? null : week.reduce((n, d) => n + d.localOutputTokens, 0) / week.length;
  let reached = reachedOn(used, limit, perDay, today);
  if (/^\d/.test(reached) && reached.slice(0, 7) !== month) reached = 'not this month';
  return {
    resource: 'Local model output, month to date',
    unit: 'tokens',
    used,
    limit,
    perDay,
    reached,
  };
}
