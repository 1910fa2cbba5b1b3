import { sql } from 'kysely';
import type { Db } from '../../shared/db/create-db.ts';
import { type DayUsage, emptyDayUsage } from '../../shared/usage/day-usage.ts';

/** A day of `cost_daily`, numbers parsed. */
export interface CostDay {
  day: string;
  activeUsers: number;
  total: number;
  cpau: number | null;
  /** CPAU as stored (`numeric` text), for a reader that wants the exact figure. */
  cpauText: string | null;
  components: {
    fleet: number;
    database: number;
    model: number;
    storage: number;
    requests: number;
    tokens: number;
  };
  storageBytes: number;
  localOutputTokens: number;
  usage: DayUsage;
  /** When the rollup last wrote the day. */
  updatedAt: Date;
}

/** The `cost_daily` rows of `[from, to]`, oldest first: one small row a day. */
export async function costDays(db: Db, from: string, to: string): Promise<CostDay[]> {
  const rows = await db
    .selectFrom('cost_daily')
    .selectAll()
    .where('day', '>=', from)
    .where('day', '<=', to)
    .orderBy('day')
    .execute();
  return rows.map((r) => ({
    day: r.day,
    activeUsers: r.active_users,
    total: Number(r.total_usd),
    cpau: r.cpau_usd === null ? null : Number(r.cpau_usd),
    cpauText: r.cpau_usd,
    components: {
      fleet: Number(r.fleet_usd),
      database: Number(r.database_usd),
      model: Number(r.model_usd),
      storage: Number(r.storage_usd),
      requests: Number(r.requests_usd),
      tokens: Number(r.token_usd),
    },
    storageBytes: Number(r.storage_bytes),
    localOutputTokens: Number(r.local_output_tokens),
    usage: { ...emptyDayUsage(), ...r.usage },
    updatedAt: r.updated_at,
  }));
}

export interface TopUser {
  userId: string;
  costUsd: number;
  apiCalls: number;
  generations: number;
  tokens: number;
}

/**
 * A day's costliest users (summed over their API keys). One day's rows through the primary
 * key's leading `day`: ~10,000 rows at 10,000 users, whatever the history kept.
 */
export async function topUsers(db: Db, day: string, limit = 20): Promise<TopUser[]> {
  const rows = await db
    .selectFrom('usage_daily')
    .select((eb) => [
      'user_id',
      eb.fn.sum<string>('cost_usd').as('cost'),
      eb.fn.sum<string>('api_calls').as('calls'),
      eb.fn.sum<string>('generations').as('generations'),
      sql<string>`sum(tokens_in + tokens_out)`.as('tokens'),
    ])
    .where('day', '=', day)
    .where('user_id', '<>', '')
    .groupBy('user_id')
    .orderBy('cost', 'desc')
    .orderBy('calls', 'desc')
    .orderBy('user_id')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    userId: r.user_id,
    costUsd: Number(r.cost),
    apiCalls: Number(r.calls),
    generations: Number(r.generations),
    tokens: Number(r.tokens),
  }));
}

export interface PrecomputeRun {
  day: string;
  state: string;
  candidates: number;
  /** Candidates with an entry after the run: answered now or still fresh. */
  covered: number;
  failed: number;
  startedAt: Date;
  finishedAt: Date | null;
  error: string | null;
}

/** The precompute's runs started in `[from, to]` (UTC days), oldest first. */
export async function precomputeRuns(db: Db, from: string, to: string): Promise<PrecomputeRun[]> {
  const rows = await db
    .selectFrom('precompute_runs')
    .selectAll()
    .where('started_at', '>=', new Date(`${from}T00:00:00Z`))
    .where('started_at', '<', new Date(Date.parse(`${to}T00:00:00Z`) + 86_400_000))
    .orderBy('started_at')
    .execute();
  return rows.map((r) => ({
    day: r.started_at.toISOString().slice(0, 10),
    state: r.state,
    candidates: r.candidates,
    covered: r.skipped_fresh + r.generated_local + r.generated_frontier,
    failed: r.failed + r.invalid,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    error: r.error,
  }));
}

/** The false-hit audit per audited day in `[from, to]`: judged answers and false hits. */
export async function auditDays(
  db: Db,
  from: string,
  to: string,
): Promise<{ day: string; judged: number; falseHits: number }[]> {
  const rows = await db
    .selectFrom('cache_audits')
    .select((eb) => [
      'day',
      eb.fn.sum<string>('sample_size').as('judged'),
      eb.fn.sum<string>('false_hits').as('false_hits'),
    ])
    .where('day', '>=', from)
    .where('day', '<=', to)
    .groupBy('day')
    .orderBy('day')
    .execute();
  return rows.map((r) => ({
    day: r.day,
    judged: Number(r.judged),
    falseHits: Number(r.false_hits),
  }));
}

export interface ExportDay {
  table: string;
  day: string;
  state: string;
  updatedAt: Date;
  error: string | null;
}

/** Each cold table's latest exported day and its state (`export_runs`: a row per table and day). */
export async function latestExports(db: Db): Promise<ExportDay[]> {
  const { rows } = await sql<{
    table_name: string;
    day: string;
    state: string;
    updated_at: Date;
    error: string | null;
  }>`SELECT DISTINCT ON (table_name) table_name, day, state, updated_at, error
     FROM export_runs ORDER BY table_name, day DESC`.execute(db);
  return rows.map((r) => ({
    table: r.table_name,
    day: r.day,
    state: r.state,
    updatedAt: r.updated_at,
    error: r.error,
  }));
}

/** Webhook deliveries dead-lettered: all kept, and those of the last 24 hours. */
export async function deadLetters(db: Db, now: Date): Promise<{ total: number; lastDay: number }> {
  const { rows } = await sql<{ total: string; last_day: string }>`
    SELECT count(*) AS total,
      count(*) FILTER (WHERE created_at >= ${new Date(now.getTime() - 86_400_000)}) AS last_day
    FROM webhook_deliveries WHERE status = 'dead'`.execute(db);
  return { total: Number(rows[0]?.total ?? 0), lastDay: Number(rows[0]?.last_day ?? 0) };
}

/** The last time the rollup wrote a day, and which. */
export async function lastRollup(db: Db): Promise<{ day: string; at: Date } | undefined> {
  const row = await db
    .selectFrom('cost_daily')
    .select(['day', 'updated_at'])
    .orderBy('updated_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row && { day: row.day, at: row.updated_at };
}
