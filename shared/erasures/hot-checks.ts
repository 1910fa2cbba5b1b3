import { sql } from 'kysely';
import { cacheLayers } from '../inference/answer-cache.ts';
import { listNamespaces } from '../inference/namespace-registry.ts';
import { scanSemanticEntries } from '../inference/semantic-store.ts';
import { scanKeys } from '../redis/scan-keys.ts';
import {
  type ErasureCheck,
  type ErasureUnderCheck,
  type Remaining,
  requireSubject,
} from './erasure-check.ts';
import { erasureDigest } from './erasure-hash.ts';
import { hotRowTables, subjectRowsByDay } from './hot-rows.ts';
import { redisRecords } from './redis-checks.ts';

const digests = (erasure: ErasureUnderCheck, field: 'cacheKeys' | 'jobIds'): Set<string> => {
  const hot = erasure.counts.hot as Record<string, unknown> | undefined;
  const list = hot?.[field];
  return new Set(Array.isArray(list) ? (list as string[]) : []);
};

/** The user's rows (and their devices' telemetry) in every hot table and its late table. */
const hotRows: ErasureCheck = {
  name: 'hot rows',
  async run(ctx, erasure) {
    const subject = { userId: requireSubject(erasure), deviceIds: erasure.deviceIds };
    const found: Remaining[] = [];
    for (const { table } of hotRowTables) {
      for (const { day, rows } of await subjectRowsByDay(ctx.db, table, subject)) {
        const state = await ctx.db
          .selectFrom('export_runs')
          .select('state')
          .where('table_name', '=', table)
          .where('day', '=', day)
          .executeTakeFirst();
        found.push({
          check: 'hot rows',
          place: `${table} ${day}`,
          rows,
          ...(state && {
            note: `the export holds this day (${state.state}): its cold files hold these rows, for the cold side`,
          }),
        });
      }
    }
    return found;
  },
};

/** The user's own `usage_daily` rows (the folded aggregate names nobody). */
const usageRows: ErasureCheck = {
  name: 'usage rows',
  async run(ctx, erasure) {
    const rows = await ctx.db
      .selectFrom('usage_daily')
      .select(['day', (eb) => eb.fn.countAll<string>().as('n')])
      .where('user_id', '=', requireSubject(erasure))
      .groupBy('day')
      .orderBy('day')
      .execute();
    return rows.map((r) => ({
      check: 'usage rows',
      place: `usage_daily ${r.day}`,
      rows: Number(r.n),
    }));
  },
};

/** Webhook payloads not blanked, idempotency records and shadow comparisons of their jobs. */
const ledgerRows: ErasureCheck = {
  name: 'ledgers',
  async run(ctx, erasure) {
    const jobs = digests(erasure, 'jobIds');
    if (jobs.size === 0) return [];
    const mine = (id: string) => jobs.has(erasureDigest(id, ctx.secretsKey));
    const sources = [
      {
        place: 'webhook_deliveries (payload)',
        query: sql<{
          id: string;
        }>`SELECT job_id AS id FROM webhook_deliveries WHERE NOT (payload ? 'erased')`,
      },
      {
        place: 'idempotency_keys',
        query: sql<{
          id: string;
        }>`SELECT job_id AS id FROM idempotency_keys WHERE job_id IS NOT NULL`,
      },
      {
        place: 'shadow_comparisons',
        query: sql<{ id: string }>`SELECT generation_id AS id FROM shadow_comparisons`,
      },
    ];
    const found: Remaining[] = [];
    for (const { place, query } of sources) {
      const rows = (await query.execute(ctx.db)).rows.filter((r) => mine(r.id)).length;
      if (rows > 0) found.push({ check: 'ledgers', place, rows });
    }
    return found;
  },
};

/** Answers still cached under their keys, semantic entries, and their per-user namespaces. */
const caches: ErasureCheck = {
  name: 'caches',
  async run(ctx, erasure) {
    const keys = digests(erasure, 'cacheKeys');
    const mine = (key: string) => keys.has(erasureDigest(key, ctx.secretsKey));
    const perLayer = new Map<string, number>();
    const base = `${ctx.prefix}:cache:`;
    for await (const names of scanKeys(ctx.redis, `${base}*`)) {
      for (const name of names) {
        const rest = name.slice(base.length);
        const layerEnd = rest.indexOf(':');
        const nsEnd = rest.indexOf(':', layerEnd + 1);
        const layer = rest.slice(0, layerEnd);
        if (layerEnd < 0 || nsEnd < 0 || !(cacheLayers as readonly string[]).includes(layer))
          continue;
        if (mine(rest.slice(nsEnd + 1))) perLayer.set(layer, (perLayer.get(layer) ?? 0) + 1);
      }
    }
    let vectors = 0;
    for await (const page of scanSemanticEntries(ctx.redis, ctx.prefix)) {
      vectors += page.filter((e) => mine(e.id)).length;
    }
    const found: Remaining[] = [...perLayer].map(([layer, rows]) => ({
      check: 'caches',
      place: `cache ${layer}`,
      rows,
    }));
    if (vectors > 0) found.push({ check: 'caches', place: 'semantic index', rows: vectors });
    if (erasure.subjectUserId !== undefined) {
      const own = [...(await listNamespaces(ctx.redis, ctx.prefix)).values()].filter(
        (n) => n.user === erasure.subjectUserId,
      ).length;
      if (own > 0)
        found.push({ check: 'caches', place: 'cache registry (per-user namespaces)', rows: own });
    }
    return found;
  },
};

/** Every check of the hot side, in the order `--verify` prints them. */
export const hotChecks: readonly ErasureCheck[] = [
  hotRows,
  usageRows,
  ledgerRows,
  caches,
  redisRecords,
];
