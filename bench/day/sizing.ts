// The sizing table (#18): from one simulated day's per-user figures and the price sheet, what a
// fleet of 1,000 to 100,000 users needs — fleet boxes, model boxes, Redis memory, Postgres hot
// size, object storage — and its monthly bill. Pure: the inputs are the run's own figures.

import { type CostsConfig, costsSchema } from '../../shared/config/costs-config.ts';
import { round } from '../support.ts';
import { fleetCpuSeconds } from './measure.ts';

/** One user-day of the simulated day, scaled to a day fully accepted. */
export interface PerUser {
  /** Fleet CPU-seconds (API, workers, Redis, Postgres). */
  cpuS: number;
  /** Local output tokens in the busiest simulated hour, per user. */
  busiestHourLocalTokens: number;
  /** Paid model tokens, USD. */
  paidUsd: number;
  /** Redis peak memory, MB. */
  redisMb: number;
  /** Postgres hot size (the 24 h window and the day being exported), MB. */
  postgresMb: number;
  /** Cold Parquet written for one day, MB. */
  coldMbPerDay: number;
}

/** What the day measured, as `bench:day` collects it. */
export interface DayMeasure {
  users: number;
  days: number;
  fleetCpuS: number;
  /** Accepted ÷ scheduled, generations and pings. */
  acceptedShare: { generations: number; pings: number };
  busiestHourLocalTokens: number;
  paidUsdPerDay: number;
  redisPeakMb: number;
  postgresMb: number;
  /** A whole exported day (the bulk-loaded one, fully accepted), MB. */
  coldMbPerDay: number;
}

/**
 * Per user-day, with what the run refused added back: CPU scaled by the smaller accepted share
 * (an upper bound: the refused work would have cost no more than the accepted), tokens and paid
 * answers by the generations' share. Memory and storage are taken as measured per user.
 */
export function perUser(m: DayMeasure): PerUser {
  const userDays = m.users * m.days;
  const share = (s: number) => Math.max(s, 1e-9);
  const both = Math.min(m.acceptedShare.generations, m.acceptedShare.pings);
  return {
    cpuS: m.fleetCpuS / userDays / share(both),
    busiestHourLocalTokens: m.busiestHourLocalTokens / m.users / share(m.acceptedShare.generations),
    paidUsd: m.paidUsdPerDay / userDays / share(m.acceptedShare.generations),
    redisMb: m.redisPeakMb / m.users,
    postgresMb: m.postgresMb / m.users,
    coldMbPerDay: m.coldMbPerDay / m.users,
  };
}

export interface SizingRow {
  users: number;
  fleetBoxes: number;
  modelBoxes: number;
  redisMb: number;
  postgresGb: number;
  /** Object storage after a year of history, GB. */
  storageGb: number;
  monthlyUsd: number;
  cpauUsd: number;
  /** What one fleet box's plan (`COSTS.limits`) does not hold at this size. */
  outgrows: string[];
}

const DAYS_A_MONTH = 365 / 12;
/** One 2-core fleet box at 50 % CPU on average (the diurnal peak is 1.5× the mean). */
const BOX_CPU_S_A_DAY = 2 * 86_400 * 0.5;

/** The table's rows for `sizes` users, from one user-day and the price sheet. */
export function sizingRows(
  p: PerUser,
  prices: CostsConfig,
  sizes: readonly number[] = [1_000, 10_000, 50_000, 100_000],
): SizingRow[] {
  return sizes.map((users) => {
    const fleetBoxes = Math.max(1, Math.ceil((users * p.cpuS) / BOX_CPU_S_A_DAY));
    const modelBoxes = Math.max(
      prices.modelBox.min,
      Math.ceil((users * p.busiestHourLocalTokens) / 3_600 / prices.modelBox.outputTokensPerSecond),
    );
    const redisMb = users * p.redisMb;
    const postgresGb = (users * p.postgresMb) / 1_024;
    const storageGb = (users * p.coldMbPerDay * 365) / 1_024;
    const monthlyUsd =
      fleetBoxes * prices.fleetBoxUsdPerMonth +
      prices.databaseUsdPerMonth +
      modelBoxes * prices.modelBox.usdPerMonth +
      users * p.paidUsd * DAYS_A_MONTH +
      Math.max(0, storageGb - prices.storage.freeGb) * prices.storage.usdPerGbMonth;
    const outgrows: string[] = [];
    if (redisMb > prices.limits.redisMb) {
      outgrows.push(`Redis ${round(redisMb / 1_024, 1)} GB > ${prices.limits.redisMb} MB`);
    }
    if (postgresGb > prices.limits.postgresGb) {
      outgrows.push(`Postgres ${round(postgresGb, 1)} GB > ${prices.limits.postgresGb} GB`);
    }
    return {
      users,
      fleetBoxes,
      modelBoxes,
      redisMb: round(redisMb, 0),
      postgresGb: round(postgresGb, 1),
      storageGb: round(storageGb, 1),
      monthlyUsd: round(monthlyUsd),
      cpauUsd: round(monthlyUsd / DAYS_A_MONTH / users, 6),
      outgrows,
    };
  });
}

/** The rows as a Markdown table, for the report and the README. */
export function sizingMarkdown(rows: readonly SizingRow[]): string {
  const head =
    '| users | fleet boxes (CPU) | model boxes (busiest hour) | Redis | Postgres hot | object storage after a year | monthly bill | per user-day | past one box |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |';
  const lines = rows.map(
    (r) =>
      `| ${r.users.toLocaleString('en')} | ${r.fleetBoxes} | ${r.modelBoxes} | ${r.redisMb.toLocaleString('en')} MB | ${r.postgresGb} GB | ${r.storageGb} GB | $${r.monthlyUsd.toLocaleString('en')} | $${r.cpauUsd} | ${r.outgrows.join('; ') || '—'} |`,
  );
  return [head, ...lines].join('\n');
}

/** The parts of a saved report (`bench/results/day-*.json`) the sizing reads. */
export interface SavedDay {
  settings: { users: number; days: number };
  cpu: Record<string, number>;
  outcomes: { busiestHourLocalTokens: number };
  redisPeakMb: number;
  sizes: Record<string, number>;
  cost?: { token_usd: string | number } | null | undefined;
  checks: { exports: { bytesPerDay: Record<string, number> } };
  client: {
    generations: { accepted: number; dropped: number; lag: { started: number } };
    pings: { accepted: number };
  };
}

/** One device per user pings every 10 s. */
const PINGS_A_USER_DAY = 8_640;

/** A saved (or just collected) day's measure. */
export function dayMeasure(day: SavedDay): DayMeasure {
  const { users, days } = day.settings;
  const g = day.client.generations;
  return {
    users,
    days,
    fleetCpuS: fleetCpuSeconds(day.cpu),
    acceptedShare: {
      // `lag.started` counts every due arrival, those the in-flight cap then dropped included.
      generations: g.accepted / Math.max(1, g.lag.started),
      pings: day.client.pings.accepted / (users * days * PINGS_A_USER_DAY),
    },
    busiestHourLocalTokens: day.outcomes.busiestHourLocalTokens,
    paidUsdPerDay: Number(day.cost?.token_usd ?? 0),
    redisPeakMb: day.redisPeakMb,
    postgresMb: day.sizes.database ?? 0,
    coldMbPerDay: Math.max(0, ...Object.values(day.checks.exports.bytesPerDay)) / 1_048_576,
  };
}

/** The report's sizing section and its Markdown table, with `prices` (the default sheet). */
export function sizingSection(
  day: SavedDay,
  prices: CostsConfig = costsSchema.parse({}),
): { section: [string, [string, string][]]; markdown: string } {
  const p = perUser(dayMeasure(day));
  const rows = sizingRows(p, prices);
  return {
    section: [
      'sizing (per user-day scaled to a full day; the default price sheet)',
      [
        [
          'per user-day',
          `${round(p.cpuS, 3)} CPU-s, ${round(p.busiestHourLocalTokens, 1)} local tokens in the busiest hour, $${round(p.paidUsd, 7)} paid, Redis ${round(p.redisMb * 1_024, 1)} KB, Postgres ${round(p.postgresMb, 2)} MB, cold ${round(p.coldMbPerDay * 1_024, 1)} KB a day`,
        ],
        ...rows.map((r): [string, string] => [
          `${r.users.toLocaleString('en')} users`,
          `fleet boxes ${r.fleetBoxes}, model boxes ${r.modelBoxes}, Redis ${r.redisMb} MB, Postgres ${r.postgresGb} GB, storage ${r.storageGb} GB after a year: $${r.monthlyUsd} a month ($${r.cpauUsd} a user-day)${r.outgrows.length ? `; past one box: ${r.outgrows.join(', ')}` : ''}`,
        ]),
      ],
    ],
    markdown: sizingMarkdown(rows),
  };
}
