// What the day cost the fleet: a sampler of RSS and queue lag while it runs, CPU per process
// from /proc, Redis peak memory, Postgres hot size; and what the requests did, from their rows.

import type { Queue } from 'bullmq';
import { sql } from 'kysely';
import type { Db } from '../../shared/db/create-db.ts';
import {
  type CpuScope,
  percentile,
  processCpuMicros,
  rssMb,
  type ServerProcess,
  serverProcesses,
} from '../support.ts';

export interface Sampler {
  stop(): { peakRssMb: Record<string, number>; queueLagP99Ms: Record<string, number> };
}

/** Every second: each process's RSS and the age of each queue's oldest waiting job. */
export function startSampler(
  pids: Readonly<Record<string, number | undefined>>,
  queues: Record<string, Queue>,
): Sampler {
  const peak: Record<string, number> = {};
  const lags: Record<string, number[]> = Object.fromEntries(
    Object.keys(queues).map((q) => [q, []]),
  );
  let busy = false;
  const sample = async () => {
    if (busy) return;
    busy = true;
    try {
      for (const [name, pid] of Object.entries(pids)) {
        try {
          peak[name] = Math.max(peak[name] ?? 0, rssMb(pid));
        } catch {
          // Ended meanwhile.
        }
      }
      for (const [name, queue] of Object.entries(queues)) {
        const [oldest] = await queue.getJobs(['wait', 'prioritized'], 0, 0, true);
        lags[name]?.push(oldest ? Math.max(0, Date.now() - oldest.timestamp) : 0);
      }
    } finally {
      busy = false;
    }
  };
  // A sample that fails (Redis going away at the end) is skipped, not fatal.
  const timer = setInterval(() => void sample().catch(() => {}), 1_000).unref();
  return {
    stop() {
      clearInterval(timer);
      return {
        peakRssMb: Object.fromEntries(Object.entries(peak).map(([k, v]) => [k, Math.round(v)])),
        queueLagP99Ms: Object.fromEntries(
          Object.entries(lags).map(([k, v]) => [
            k,
            Math.round(
              percentile(
                v.sort((a, b) => a - b),
                99,
              ),
            ),
          ]),
        ),
      };
    },
  };
}

export interface CpuTracker {
  /** CPU-seconds since the start: each named process, and `postgres` and `redis` summed. */
  stop(): Record<string, number>;
}

/**
 * CPU-seconds per process over a run, sampled every second so that a Postgres backend that
 * exits mid-run (a pool closing an idle connection) keeps what it used: each server process
 * counts from its CPU at the start (0 when it was born later) to its last sample. Two snapshots
 * would drop an exited backend's whole CPU and could even come out negative. What a backend uses
 * in its last second before exiting is still lost; the server-wide WAL writer and checkpointer
 * are not counted (they serve every database on the server).
 */
export function startCpuTracker(
  pids: Readonly<Record<string, number | undefined>>,
  scope: CpuScope,
): CpuTracker {
  const before: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) before[name] = pid ? processCpuMicros(pid) : 0;
  const first = new Map<string, number>();
  const last = new Map<string, ServerProcess>();
  const sample = (atStart: boolean) => {
    for (const p of serverProcesses(scope)) {
      if (!first.has(p.pid)) first.set(p.pid, atStart ? p.micros : 0);
      last.set(p.pid, p);
    }
  };
  sample(true);
  const timer = setInterval(() => sample(false), 1_000).unref();
  return {
    stop() {
      clearInterval(timer);
      sample(false);
      const out: Record<string, number> = { postgres: 0, redis: 0 };
      for (const [name, pid] of Object.entries(pids)) {
        out[name] = ((pid ? processCpuMicros(pid) : 0) - (before[name] ?? 0)) / 1e6;
      }
      for (const [pid, p] of last) {
        out[p.kind] = (out[p.kind] ?? 0) + (p.micros - (first.get(pid) ?? 0)) / 1e6;
      }
      return out;
    },
  };
}

/** What the fleet box runs: its CPU is the fleet's. */
const FLEET = ['api', 'worker1', 'worker2', 'redis', 'postgres'];

/** The fleet's CPU-seconds: the sum over {@link FLEET} of a run's per-process CPU. */
export const fleetCpuSeconds = (cpu: Record<string, number>) =>
  FLEET.reduce((n, k) => n + (cpu[k] ?? 0), 0);

export interface Outcomes {
  requests: number;
  hits: number;
  byLayer: Record<string, number>;
  local: number;
  /** The paid model after a local answer failed (any reason). */
  fallback: number;
  /** The paid model without trying the local one (the router's choice). */
  frontierDirect: number;
  failed: number;
  tokensByRoute: Record<string, { in: number; out: number }>;
  /** Local output tokens per simulated hour, busiest and average. */
  busiestHourLocalTokens: number;
  averageHourLocalTokens: number;
}

/** What the run's generations (`ids`) did, from their rows; `origin` maps them to sim hours. */
export async function outcomes(
  db: Db,
  ids: string[],
  origin: Date,
  compression: number,
): Promise<Outcomes> {
  const { rows } = await sql<{
    layer: string | null;
    route: string | null;
    fallback: string | null;
    status: string;
    n: string;
    tin: string;
    tout: string;
  }>`
    SELECT cache_layer AS layer, route, fallback_reason AS fallback, status, count(*) AS n,
      sum(tokens_in) AS tin, sum(tokens_out) AS tout
    FROM generations WHERE id = ANY(${ids}) GROUP BY 1, 2, 3, 4`.execute(db);
  const o: Outcomes = {
    requests: 0,
    hits: 0,
    byLayer: {},
    local: 0,
    fallback: 0,
    frontierDirect: 0,
    failed: 0,
    tokensByRoute: {},
    busiestHourLocalTokens: 0,
    averageHourLocalTokens: 0,
  };
  for (const r of rows) {
    const n = Number(r.n);
    o.requests += n;
    if (r.status === 'failed') o.failed += n;
    if (r.layer) {
      o.hits += n;
      o.byLayer[r.layer] = (o.byLayer[r.layer] ?? 0) + n;
    } else if (r.route === 'local') o.local += n;
    else if (r.route === 'frontier' && r.fallback) o.fallback += n;
    else if (r.route === 'frontier') o.frontierDirect += n;
    if (r.route && !r.layer) {
      const t = o.tokensByRoute[r.route] ?? { in: 0, out: 0 };
      t.in += Number(r.tin);
      t.out += Number(r.tout);
      o.tokensByRoute[r.route] = t;
    }
  }
  const hours = await sql<{ hour: number; tokens: string }>`
    SELECT floor(extract(epoch FROM created_at - ${origin.toISOString()}::timestamptz)
      * ${compression} / 3600) AS hour, sum(tokens_out) AS tokens
    FROM generations WHERE id = ANY(${ids}) AND route = 'local' AND cache_layer IS NULL
    GROUP BY 1`.execute(db);
  const perHour = hours.rows.map((h) => Number(h.tokens));
  o.busiestHourLocalTokens = Math.max(0, ...perHour);
  o.averageHourLocalTokens = perHour.reduce((a, b) => a + b, 0) / 24;
  return o;
}

/** Postgres hot size: the database and its two big tables, in MB. */
export async function postgresSizes(db: Db): Promise<Record<string, number>> {
  const { rows } = await sql<{ database: string; telemetry: string; generations: string }>`
    SELECT pg_database_size(current_database()) AS database,
      (SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits
        WHERE inhparent = 'telemetry'::regclass) AS telemetry,
      (SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits
        WHERE inhparent = 'generations'::regclass) AS generations`.execute(db);
  const mb = (v: string | undefined) => Math.round(Number(v ?? 0) / 1_048_576);
  return {
    database: mb(rows[0]?.database),
    telemetry: mb(rows[0]?.telemetry),
    generations: mb(rows[0]?.generations),
  };
}
