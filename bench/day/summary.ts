// The day's figures from what the run collected: the cost from `cost_daily` as `rollup-usage`
// wrote it with the default price sheet (no prices of the bench's own), the model boxes from the
// busiest simulated hour, users per fleet box from CPU-seconds per user-day.

import type { Redis } from 'ioredis';
import { costsSchema } from '../../shared/config/costs-config.ts';
import { utcDay } from '../../shared/db/partitions.ts';
import { round } from '../support.ts';
import type { ClientResult } from './client-run.ts';
import type { DayFleet } from './fleet.ts';
import { fleetCpuSeconds, type Outcomes, outcomes, postgresSizes } from './measure.ts';
import type { OracleResult } from './oracle.ts';
import { publish } from './report.ts';
import type { ScheduledRuns } from './scheduled.ts';
import type { DaySettings } from './settings.ts';
import { sizingSection } from './sizing.ts';
import { daySections } from './table.ts';
import type { ExportCheck, GenerationCheck, PingCheck, WebhookCheck } from './verify.ts';

export interface DayCollected {
  settings: DaySettings;
  fleet: DayFleet;
  /** A connection to the fleet's Redis. */
  redis: Redis;
  client: ClientResult;
  checks: {
    generations: GenerationCheck;
    webhooks: WebhookCheck;
    pings: PingCheck;
    exports: ExportCheck;
  };
  oracle: OracleResult;
  oracleWarm: OracleResult;
  /** CPU-seconds per process over the load and the drain. */
  cpu: Record<string, number>;
  measured: { peakRssMb: Record<string, number>; queueLagP99Ms: Record<string, number> };
  wallS: number;
  loadWallS: number;
  drainedS: number;
  originEpochMs: number;
  ids: string[];
  /** The scheduled runs of the day, from the workers' job schedulers on the compressed clock. */
  scheduled: ScheduledRuns;
}

const CORES = 2;

export type CostRow = Awaited<ReturnType<typeof costRow>>;
const costRow = (d: DayCollected) =>
  d.fleet.db
    .selectFrom('cost_daily')
    .selectAll()
    .where('day', '=', utcDay(new Date(d.originEpochMs)))
    .executeTakeFirst();

export interface DayFigures {
  o: Outcomes;
  cost: CostRow;
  redisPeakMb: number;
  sizes: Record<string, number>;
  fleetCpuS: number;
  modelBoxes: { busiest: number; average: number };
  line: Record<string, string | number | null>;
}

/** The figures, and its JSON line. */
export async function dayFigures(d: DayCollected): Promise<DayFigures> {
  const s = d.settings;
  const o = await outcomes(d.fleet.db, d.ids, new Date(d.originEpochMs), s.compression);
  const cost = await costRow(d);
  const redisInfo = await d.redis.info('memory');
  const redisPeakMb = Number(/used_memory_peak:(\d+)/.exec(redisInfo)?.[1] ?? 0) / 1_048_576;
  const prices = costsSchema.parse({});
  // Sampled every second (`startCpuTracker`): a Postgres backend that ends mid-run keeps what it
  // used up to its last sample.
  const fleetCpuS = fleetCpuSeconds(d.cpu);
  const cpuPerUserDay = fleetCpuS / (s.users * s.days);
  const boxes = (hourTokens: number) =>
    Math.max(
      prices.modelBox.min,
      Math.ceil(hourTokens / 3_600 / prices.modelBox.outputTokensPerSecond),
    );
  const misses = o.requests - o.hits;
  const { generations, webhooks, pings } = d.checks;
  const line = {
    bench: 'day',
    users: s.users,
    compression: s.compression,
    // A dropped arrival (never sent) is as late as one can be.
    late_arrivals:
      d.client.generations.lag.late +
      d.client.pings.lag.late +
      d.client.generations.dropped +
      d.client.pings.dropped,
    lost: generations.lost + webhooks.lost + pings.lost,
    duplicated: generations.duplicated + webhooks.duplicated + pings.duplicated,
    cpu_share: round(fleetCpuS / (d.wallS * CORES), 4),
    cpu_s_per_user_day: round(cpuPerUserDay, 5),
    // One 2-core box at 50 % CPU: 86,400 CPU-seconds a day.
    users_per_box: Math.floor((CORES * 86_400 * 0.5) / cpuPerUserDay),
    hit_rate: round(o.hits / Math.max(1, o.requests), 4),
    oracle_hit_rate: round(d.oracle.rate, 4),
    fallback_share_all: round(o.fallback / Math.max(1, o.requests), 5),
    fallback_share_misses: round(o.fallback / Math.max(1, misses), 5),
    model_boxes: boxes(o.busiestHourLocalTokens),
    cpau_usd: cost?.cpau_usd == null ? null : Number(cost.cpau_usd),
    monthly_usd: cost ? round((Number(cost.total_usd) * 365) / 12, 2) : null,
  };
  return {
    o,
    cost,
    redisPeakMb,
    sizes: await postgresSizes(d.fleet.db),
    fleetCpuS,
    modelBoxes: { busiest: line.model_boxes, average: boxes(o.averageHourLocalTokens) },
    line,
  };
}

/** Prints and writes the report. */
export async function summarise(d: DayCollected): Promise<void> {
  const f = await dayFigures(d);
  const c = d.client;
  const full = {
    settings: d.settings,
    checks: d.checks,
    outcomes: f.o,
    oracle: d.oracle,
    oracleWarm: d.oracleWarm,
    cpu: d.cpu,
    measured: d.measured,
    redisPeakMb: f.redisPeakMb,
    sizes: f.sizes,
    cost: f.cost,
    scheduled: d.scheduled,
    client: {
      ...c,
      generations: { ...c.generations, accepted: c.generations.accepted.length },
      pings: { ...c.pings, batches: c.pings.batches.length },
    },
  };
  const sizing = sizingSection(full);
  await publish({
    line: f.line,
    sections: [...daySections(d, f), sizing.section],
    full: { ...full, sizing: sizing.markdown },
  });
}
