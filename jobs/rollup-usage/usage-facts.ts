import { sql } from 'kysely';
import type { Db } from '../../shared/db/create-db.ts';
import { hotRange, withColdQuery } from '../../shared/duckdb/cold-query.ts';
import type { DuckDbSettings } from '../../shared/duckdb/duckdb.ts';
import type { ObjectStorage } from '../../shared/storage/storage.ts';

export interface ColdSource {
  databaseUrl: string;
  storage: ObjectStorage;
  cacheDir: string;
  duckdb: Omit<DuckDbSettings, 'tempDirectory'>;
  /** The job's signal (see `ColdQueryOptions.signal`). */
  signal?: AbortSignal;
}

/** Generations and telemetry of one (API key, user) in a day. */
export interface GeneratedFacts {
  generations: number;
  byLayer: Record<string, number>;
  tokensIn: number;
  tokensOut: number;
  /** Exact decimal text, as summed by DuckDB. */
  costUsd: string;
  byModel: Record<string, { in: number; out: number; usd: number }>;
  telemetryPings: number;
}

export interface DayFacts {
  /** Keyed `apiKeyId \t userId` (`''` for none). */
  users: Map<string, GeneratedFacts>;
  tokenUsd: number;
  localOutputTokens: number;
}

// Where a generation's answer came from: its cache layer, else the model that answered —
// `fallback:<reason>` when the frontier answered after the local model failed, and
// `fallback:budget` when it failed and the user's daily budget kept the frontier from being
// asked (a failed job, counted by its reason rather than as `failed`).
const LAYER = `CASE WHEN fallback_reason = 'budget' THEN 'fallback:budget'
  WHEN status = 'failed' THEN 'failed'
  WHEN cache_layer IS NOT NULL THEN cache_layer
  WHEN fallback_reason IS NOT NULL THEN 'fallback:' || fallback_reason
  WHEN route = 'frontier' THEN 'frontier' ELSE 'local' END`;
const WHO = `coalesce(api_key_id::VARCHAR, '') AS k, user_id AS u`;

export const emptyFacts = (): GeneratedFacts => ({
  generations: 0,
  byLayer: {},
  tokensIn: 0,
  tokensOut: 0,
  costUsd: '0',
  byModel: {},
  telemetryPings: 0,
});

// The columns of a generation the rollup reads: its request and answer stay in Postgres.
const GENERATION_COLUMNS = [
  'api_key_id',
  'user_id',
  'status',
  'cache_layer',
  'fallback_reason',
  'route',
  'model',
  'tokens_in',
  'tokens_out',
  'cost_usd',
];

/**
 * A day's generations and telemetry per API key and user, from hot and cold rows alike
 * (`openColdQuery` reads each row once wherever it is), summed by DuckDB; ordered, so a rerun
 * over the same rows builds the same maps. Hot pings are counted by Postgres instead: the rollup
 * only needs a count per user, and copying a day of pings out to count them (86 M rows at 10,000
 * users, every hour) cost more than the rest of the fleet's day.
 */
export async function dayFacts(source: ColdSource & { db: Db }, day: string): Promise<DayFacts> {
  const facts: DayFacts = { users: new Map(), tokenUsd: 0, localOutputTokens: 0 };
  const of = (k: unknown, u: unknown) => {
    const key = `${String(k)}\t${String(u)}`;
    let f = facts.users.get(key);
    if (!f) {
      f = emptyFacts();
      facts.users.set(key, f);
    }
    return f;
  };
  let coldPingDays: string[] = [];
  await withColdQuery(
    {
      ...source,
      from: day,
      to: day,
      tables: ['generations', 'telemetry'],
      hotColumns: { generations: GENERATION_COLUMNS },
      hotWhere: { telemetry: 'false' },
    },
    async (session) => {
      const totals = await session.query(
        `SELECT ${WHO}, count(*) AS n, sum(tokens_in) AS ti, sum(tokens_out) AS tout,
           sum(cost_usd::DECIMAL(18, 8)) AS usd
         FROM generations GROUP BY ALL ORDER BY k, u`,
      );
      for (const r of totals.rows) {
        const f = of(r.k, r.u);
        f.generations = Number(r.n);
        f.tokensIn = Number(r.ti);
        f.tokensOut = Number(r.tout);
        f.costUsd = String(r.usd);
      }
      const layers = await session.query(
        `SELECT ${WHO}, ${LAYER} AS layer, count(*) AS n FROM generations GROUP BY ALL ORDER BY k, u, layer`,
      );
      for (const r of layers.rows) of(r.k, r.u).byLayer[String(r.layer)] = Number(r.n);
      const models = await session.query(
        `SELECT ${WHO}, model, sum(tokens_in) AS ti, sum(tokens_out) AS tout,
           sum(cost_usd::DECIMAL(18, 8))::DOUBLE AS usd
         FROM generations WHERE model IS NOT NULL GROUP BY ALL ORDER BY k, u, model`,
      );
      for (const r of models.rows) {
        of(r.k, r.u).byModel[String(r.model)] = {
          in: Number(r.ti),
          out: Number(r.tout),
          usd: Number(r.usd),
        };
      }
      const dayTotals = await session.query(
        `SELECT coalesce(sum(cost_usd::DECIMAL(18, 8)), 0)::DOUBLE AS usd,
           coalesce(sum(tokens_out) FILTER (WHERE (${LAYER}) = 'local'), 0) AS local_out
         FROM generations`,
      );
      facts.tokenUsd = Number(dayTotals.rows[0]?.usd ?? 0);
      facts.localOutputTokens = Number(dayTotals.rows[0]?.local_out ?? 0);
      const pings = await session.query(
        `SELECT '' AS k, coalesce(user_id, '') AS u, count(*) AS n FROM telemetry GROUP BY ALL ORDER BY u`,
      );
      for (const r of pings.rows) of(r.k, r.u).telemetryPings += Number(r.n);
      coldPingDays = session.sources.find((t) => t.table === 'telemetry')?.coldDays ?? [];
      return facts;
    },
    () => facts,
  );
  for (const r of await hotPings(source.db, day, coldPingDays)) {
    of('', r.u).telemetryPings += Number(r.n);
  }
  return facts;
}

/** A day's pings per user still in Postgres (its partition unless exported, and late rows). */
async function hotPings(db: Db, day: string, coldDays: string[]) {
  const hot = hotRange('telemetry', day, day, coldDays);
  const { rows } = await sql<{ u: string; n: string }>`
    SELECT coalesce(user_id, '') AS u, count(*) AS n FROM (
      SELECT user_id FROM telemetry WHERE ${sql.raw(hot.partition)}
      UNION ALL SELECT user_id FROM telemetry_late WHERE ${sql.raw(hot.late)}
    ) p GROUP BY 1 ORDER BY 1`.execute(db);
  return rows;
}
