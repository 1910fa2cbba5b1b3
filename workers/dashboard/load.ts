import type { Queue } from 'bullmq';
import type { CostsConfig } from '../../shared/config/costs-config.ts';
import type { Db } from '../../shared/db/create-db.ts';
import { utcDay } from '../../shared/db/partitions.ts';
import type { RedisClient } from '../../shared/redis/connections.ts';
import { type BudgetLevel, readBudgetCrossings } from '../../shared/usage/budgets.ts';
import { readSizeSamples, sampleSizes } from '../../shared/usage/size-samples.ts';
import { type HeadroomLine, headroom } from './headroom.ts';
import {
  type JobRun,
  lastRun,
  type QueueState,
  queueStates,
  redisMaxMemory,
  telemetryBuffer,
} from './live-state.ts';
import {
  auditDays,
  type CostDay,
  costDays,
  deadLetters,
  type ExportDay,
  lastRollup,
  latestExports,
  type PrecomputeRun,
  precomputeRuns,
  type TopUser,
  topUsers,
} from './queries.ts';

/** What the dashboard reads: the board's clients and the settings it shows against. */
export interface DashboardDeps {
  db: Db;
  redis: RedisClient;
  /** The queue prefix (Redis keys of telemetry and the size samples live under it). */
  prefix: string;
  /** Every queue of the catalog, by name. */
  queues: Map<string, Queue>;
  costs: CostsConfig;
  cpauTargetUsd: number;
  /** A default per-user budget is set (`USER_DAILY_BUDGET_USD` or `_HARD`). */
  budgetsOn: boolean;
  telemetryBufferCap: number;
  /** @defaultValue `() => new Date()` */
  now?: () => Date;
}

/** The scheduled jobs whose last run the dashboard reports, in the order it lists them. */
export const NIGHTLY_QUEUES = [
  'export-cold',
  'precompute-cache',
  'export-finetune',
  'rollup-usage',
];

/** Days the charts cover, ending yesterday (the last complete day). */
export const DAYS = 30;

/** Everything one render shows, read in one go. */
export interface DashboardFacts {
  today: string;
  yesterday: string;
  /** The charted days, oldest first, ending yesterday; a day the rollup missed is absent. */
  days: CostDay[];
  todaySoFar: CostDay | undefined;
  cpauTargetUsd: number;
  topUsers: TopUser[];
  /**
   * Each top user's budget on yesterday's budget day: the highest budget they reached (any of
   * their keys), `within` when a default budget is set and they reached none, else absent.
   */
  budgetStates: Map<string, BudgetLevel | 'within'>;
  precompute: PrecomputeRun[];
  audits: { day: string; judged: number; falseHits: number }[];
  exports: ExportDay[];
  deadLetters: { total: number; lastDay: number };
  rollup: { day: string; at: Date } | undefined;
  queues: QueueState[];
  nightly: (JobRun & { inCatalog: boolean })[];
  telemetry: { depth: number; cap: number; oldestAgeMs: number };
  headroom: HeadroomLine[];
}

/**
 * Reads what the dashboard shows, every source at once: `cost_daily` (30 small rows and this
 * month's), one day of `usage_daily` for the top users, the nightly ledgers, BullMQ's counts
 * and schedulers, Redis and the database's sizes.
 */
export async function loadFacts(deps: DashboardDeps): Promise<DashboardFacts> {
  const now = deps.now?.() ?? new Date();
  const today = utcDay(now);
  const yesterday = utcDay(now, -1);
  const from = utcDay(now, -DAYS);
  const monthStart = `${today.slice(0, 7)}-01`;
  const firstRead = monthStart < from ? monthStart : from;
  const queues = [...deps.queues.values()];
  const days = costDays(deps.db, firstRead, today);
  const [
    read,
    top,
    crossings,
    precompute,
    audits,
    exports,
    dead,
    rollup,
    states,
    nightly,
    telemetry,
    sizes,
  ] = await Promise.all([
    days,
    days.then((all) => dayTopUsers(deps, yesterday, all)),
    readBudgetCrossings(deps.redis, deps.prefix, yesterday),
    precomputeRuns(deps.db, from, today),
    auditDays(deps.db, from, yesterday),
    latestExports(deps.db),
    deadLetters(deps.db, now),
    lastRollup(deps.db),
    queueStates(queues, now.getTime()),
    nightlyRuns(deps.queues),
    telemetryBuffer(deps.redis, deps.prefix, deps.telemetryBufferCap),
    Promise.all([
      sampleSizes(deps.db, deps.redis),
      redisMaxMemory(deps.redis),
      readSizeSamples(deps.redis, deps.prefix),
    ]),
  ]);
  const [current, redisMaxBytes, samples] = sizes;
  return {
    today,
    yesterday,
    days: read.filter((d) => d.day >= from && d.day <= yesterday),
    todaySoFar: read.find((d) => d.day === today),
    cpauTargetUsd: deps.cpauTargetUsd,
    topUsers: top,
    budgetStates: budgetStates(top, crossings, deps.budgetsOn),
    precompute,
    audits,
    exports,
    deadLetters: dead,
    rollup,
    queues: states,
    nightly,
    telemetry,
    headroom: headroom({
      today,
      costs: deps.costs,
      now: { ...current, redisMaxBytes },
      samples: samples.map((s) => ({ day: s.day, ...s.sample })),
      days: read,
    }),
  };
}

/** The last top 20 read for a day, and the rollup of that day it was read after. */
const topMemo = new WeakMap<DashboardDeps, { day: string; rolledUpAt: number; rows: TopUser[] }>();

/**
 * A day's top users, read again only when the rollup has rewritten the day since: the rollup
 * replaces a day's `usage_daily` rows and stamps its `cost_daily.updated_at` in one
 * transaction, so the stamp versions the rows. Summing a day of 10,000 users' rows is the
 * render's one costly query (~90 ms); once a day is final it is read once.
 */
async function dayTopUsers(deps: DashboardDeps, day: string, days: CostDay[]): Promise<TopUser[]> {
  const rolledUpAt = days.find((d) => d.day === day)?.updatedAt.getTime();
  const memo = topMemo.get(deps);
  if (rolledUpAt !== undefined && memo?.day === day && memo.rolledUpAt === rolledUpAt) {
    return memo.rows;
  }
  const rows = await topUsers(deps.db, day);
  if (rolledUpAt !== undefined) topMemo.set(deps, { day, rolledUpAt, rows });
  return rows;
}

async function nightlyRuns(queues: Map<string, Queue>) {
  return Promise.all(
    NIGHTLY_QUEUES.map(async (name) => {
      const queue = queues.get(name);
      if (!queue) {
        return {
          queue: name,
          lastAt: null,
          outcome: 'never run' as const,
          detail: 'not in this fleet',
          nextAt: null,
          inCatalog: false,
        };
      }
      return { ...(await lastRun(queue)), inCatalog: true };
    }),
  );
}

/**
 * The budget column of the top users. Budget days are `SCHEDULE_TZ` days and the table is a UTC
 * day: the crossings read are those of the budget day with yesterday's date.
 */
function budgetStates(
  top: TopUser[],
  crossings: { userId: string; level: BudgetLevel }[],
  budgetsOn: boolean,
): Map<string, BudgetLevel | 'within'> {
  const states = new Map<string, BudgetLevel | 'within'>();
  for (const { userId, level } of crossings)
    if (states.get(userId) !== 'hard') states.set(userId, level);
  if (budgetsOn) for (const u of top) if (!states.has(u.userId)) states.set(u.userId, 'within');
  return states;
}
