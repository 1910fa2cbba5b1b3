import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue } from 'bullmq';
import pg from 'pg';
import { createDb } from '../shared/db/create-db.ts';
import { migrateUp } from '../shared/db/migrate.ts';
import { createLogger } from '../shared/log/logger.ts';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const ADMIN_DATABASE_URL =
  process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * The benchmarks' database: one per checkout, as the tests' template is, so a worktree whose
 * branch adds a migration never leaves the others' runs failing on a migration they lack.
 */
const BENCH_DATABASE = `lowburn_bench_${createHash('sha256').update(process.cwd()).digest('hex').slice(0, 8)}`;

/** A migrated database for benchmarks (created once per checkout, reused). */
export async function benchDatabase(name = BENCH_DATABASE): Promise<string> {
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  const { db } = createDb({ url: url.toString(), log: createLogger({ level: 'silent' }) });
  await migrateUp(db);
  await db.destroy();
  return url.toString();
}

/** Waits until a queue has nothing waiting, active or delayed. */
export async function drained(queue: Queue): Promise<void> {
  for (;;) {
    const c = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
    if (Object.values(c).every((n) => n === 0)) return;
    await sleep(10);
  }
}

export const round = (n: number, digits = 2) => Number(n.toFixed(digits));
export const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
/** The `p`th percentile (nearest rank) of values sorted ascending. */
export const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;

/** Percent of one core that a `process.cpuUsage()` delta took over `ms` of wall time. */
export const cpuShare = (usage: NodeJS.CpuUsage, ms: number) =>
  (usage.user + usage.system) / 10 / ms;

export { deletePrefix } from '../shared/redis/delete-prefix.ts';

/** The part of autocannon's API (untyped package) this bench uses. */
export type Autocannon = (options: {
  url: string;
  connections: number;
  duration: number;
  requests: {
    method: 'POST';
    path: string;
    headers: Record<string, string>;
    setupRequest: (request: Record<string, unknown>) => Record<string, unknown>;
  }[];
}) => Promise<{
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts?: number;
  duration: number;
  latency: { p50: number; p99: number };
}>;

/** CPU time (user + system, µs) of process `pid` and its threads so far; 0 once it is gone. */
export function processCpuMicros(pid: number | string): number {
  try {
    // Fields after the command name: utime and stime are the 12th and 13th, in clock ticks
    // (100 per second on Linux).
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return 0;
  }
}

/** VmRSS of a process, in MB. */
export function rssMb(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** Which `postgres` and `redis-server` processes a {@link cpuSnapshot} counts. */
export interface CpuScope {
  /**
   * Only the Postgres processes serving this database (backends and autovacuum workers: their
   * process title names it). Other checkouts' test databases on a shared server are left out,
   * and so are the server-wide WAL writer and checkpointer. @defaultValue every one
   */
  database?: string | undefined;
  /** Only the `redis-server` listening on this port. @defaultValue every one */
  redisPort?: number | undefined;
}

/** The database name of a `postgres://…/name` URL: the scope of a bench's Postgres CPU. */
export const databaseOf = (url: string) => new URL(url).pathname.slice(1);

/** One local `postgres` or `redis-server` process and its CPU time so far (µs). */
export interface ServerProcess {
  pid: string;
  kind: 'postgres' | 'redis';
  micros: number;
}

/** The local `postgres` and `redis-server` processes (every one, or those of `scope`), from /proc. */
export function serverProcesses(scope: CpuScope = {}): ServerProcess[] {
  const out: ServerProcess[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  // The process title, word by word: `postgres: 15/main: postgres <db> 127.0.0.1(5432) idle`.
  const words = (pid: string) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\s\0]+/);
  for (const pid of entries) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8');
      if (comm.startsWith('postgres')) {
        if (scope.database && !words(pid).includes(scope.database)) continue;
        out.push({ pid, kind: 'postgres', micros: processCpuMicros(pid) });
      } else if (comm.startsWith('redis-server')) {
        if (scope.redisPort && !words(pid).some((w) => w.endsWith(`:${scope.redisPort}`))) {
          continue;
        }
        out.push({ pid, kind: 'redis', micros: processCpuMicros(pid) });
      }
    } catch {
      // The process ended meanwhile.
    }
  }
  return out;
}

/**
 * CPU time so far (µs) of the named processes and of the local `postgres` and `redis-server`
 * processes (every one, or those of `scope`), read from /proc (Linux): for a bench to report the
 * cost of one operation in each process — a figure this noisy 2-core VM keeps far steadier than
 * throughput. A backend that exits between two snapshots takes its CPU with it: a long run samples
 * with `bench/day/measure.ts`'s `startCpuTracker` instead.
 */
export function cpuSnapshot(
  pids: Readonly<Record<string, number | undefined>>,
  scope: CpuScope = {},
): Record<string, number> {
  const out: Record<string, number> = { postgres: 0, redis: 0 };
  for (const [name, pid] of Object.entries(pids)) out[name] = pid ? processCpuMicros(pid) : 0;
  for (const p of serverProcesses(scope)) out[p.kind] = (out[p.kind] ?? 0) + p.micros;
  return out;
}

/** Per-operation CPU (µs, rounded) between two {@link cpuSnapshot}s. */
export function cpuPer(
  before: Record<string, number>,
  after: Record<string, number>,
  operations: number,
): Record<string, number> {
  return Object.fromEntries(
    Object.keys(before).map((name) => [
      name,
      Math.round(((after[name] ?? 0) - (before[name] ?? 0)) / operations),
    ]),
  );
}
