import type { DashboardFacts } from './load.ts';
import type { CostDay } from './queries.ts';

/** How a column's values read on the page (the CSV keeps them raw). */
/** `unit` columns go to the CSV only: the page writes the unit into the amounts. */
export type Format =
  | 'text'
  | 'day'
  | 'time'
  | 'count'
  | 'usd'
  | 'share'
  | 'bytes'
  | 'number'
  | 'unit';
export type Cell = string | number | null;

export interface Column {
  /** The CSV header. */
  key: string;
  label: string;
  format: Format;
}

export interface Table {
  title: string;
  columns: Column[];
  rows: Cell[][];
}

/** The tables, each downloadable as `/dashboard/<name>.csv`. */
export const TABLE_NAMES = [
  'cost',
  'per-user',
  'cache',
  'top-users',
  'queues',
  'nightly',
  'headroom',
] as const;
export type TableName = (typeof TABLE_NAMES)[number];

const col = (key: string, label: string, format: Format): Column => ({ key, label, format });
const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;
const share = (part: number, whole: number) => (whole > 0 ? round(part / whole, 4) : null);
const perUser = (n: number, d: CostDay) => (d.activeUsers > 0 ? round(n / d.activeUsers, 2) : null);
const iso = (at: Date | null) => (at ? at.toISOString().slice(0, 19).replace('T', ' ') : null);

/** Models that cost anything over the days, costliest first: the cost split's token series. */
export function paidModels(days: CostDay[]): string[] {
  const usd = new Map<string, number>();
  for (const d of days) {
    for (const [model, t] of Object.entries(d.usage.byModel))
      usd.set(model, (usd.get(model) ?? 0) + t.usd);
  }
  return [...usd]
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([m]) => m);
}

const CACHE_LAYERS = ['precomputed', 'exact', 'template', 'semantic'];

/** Sums of a day's generations by kind of answer. */
export function layerShares(d: CostDay) {
  const by = d.usage.byLayer;
  const n = d.usage.generations;
  const sum = (pick: (layer: string) => boolean) =>
    Object.entries(by).reduce((a, [l, c]) => (pick(l) ? a + c : a), 0);
  return {
    layers: CACHE_LAYERS.map((l) => share(by[l] ?? 0, n)),
    hit: share(
      sum((l) => CACHE_LAYERS.includes(l)),
      n,
    ),
    local: share(by.local ?? 0, n),
    fallback: share(
      sum((l) => l.startsWith('fallback:')),
      n,
    ),
  };
}

function costTable(f: DashboardFacts): Table {
  const models = paidModels(f.days);
  return {
    title: 'Cost per day',
    columns: [
      col('day', 'Day', 'day'),
      col('active_users', 'Active users', 'count'),
      col('total_usd', 'Total', 'usd'),
      col('cpau_usd', 'CPAU', 'usd'),
      col('fleet_usd', 'Fleet box', 'usd'),
      col('database_usd', 'Database', 'usd'),
      col('model_usd', 'Model boxes', 'usd'),
      col('storage_usd', 'Storage', 'usd'),
      col('requests_usd', 'Storage requests', 'usd'),
      col('tokens_usd', 'Tokens', 'usd'),
      ...models.map((m) => col(`tokens_usd:${m}`, `Tokens · ${m}`, 'usd')),
    ],
    rows: f.days.map((d) => [
      d.day,
      d.activeUsers,
      d.total,
      d.cpau,
      d.components.fleet,
      d.components.database,
      d.components.model,
      d.components.storage,
      d.components.requests,
      d.components.tokens,
      ...models.map((m) => d.usage.byModel[m]?.usd ?? 0),
    ]),
  };
}

function cacheTable(f: DashboardFacts): Table {
  const coverage = new Map(f.precompute.map((r) => [r.day, share(r.covered, r.candidates)]));
  const falseHits = new Map(f.audits.map((a) => [a.day, share(a.falseHits, a.judged)]));
  return {
    title: 'Cache and model per day',
    columns: [
      col('day', 'Day', 'day'),
      col('generations', 'Generations', 'count'),
      ...CACHE_LAYERS.map((l) => col(`hit_${l}`, `${l[0]?.toUpperCase()}${l.slice(1)}`, 'share')),
      col('hit_rate', 'Hit rate', 'share'),
      col('local_share', 'Local', 'share'),
      col('fallback_share', 'Fallback', 'share'),
      col('precompute_coverage', 'Precompute coverage', 'share'),
      col('false_hit_rate', 'Audit false hits', 'share'),
    ],
    rows: f.days.map((d) => {
      const s = layerShares(d);
      return [
        d.day,
        d.usage.generations,
        ...s.layers,
        s.hit,
        s.local,
        s.fallback,
        coverage.get(d.day) ?? null,
        falseHits.get(d.day) ?? null,
      ];
    }),
  };
}

/** Every table of the dashboard, from one read of its facts. */
export function buildTables(f: DashboardFacts): Record<TableName, Table> {
  return {
    cost: costTable(f),
    'per-user': {
      title: 'Per active user per day',
      columns: [
        col('day', 'Day', 'day'),
        col('active_users', 'Active users', 'count'),
        col('tokens_per_user', 'Tokens', 'number'),
        col('db_writes_per_user', 'DB writes', 'number'),
        col('api_calls_per_user', 'API calls', 'number'),
      ],
      rows: f.days.map((d) => [
        d.day,
        d.activeUsers,
        perUser(d.usage.tokensIn + d.usage.tokensOut, d),
        perUser(d.usage.dbWrites, d),
        perUser(d.usage.apiCalls, d),
      ]),
    },
    cache: cacheTable(f),
    'top-users': {
      title: `Top 20 users by cost, ${f.yesterday}`,
      columns: [
        col('user_id', 'User', 'text'),
        col('cost_usd', 'Cost', 'usd'),
        col('api_calls', 'API calls', 'count'),
        col('generations', 'Generations', 'count'),
        col('tokens', 'Tokens', 'count'),
        col('budget', 'Budget', 'text'),
      ],
      rows: f.topUsers.map((u) => [
        u.userId,
        u.costUsd,
        u.apiCalls,
        u.generations,
        u.tokens,
        budgetText(f.budgetStates.get(u.userId)),
      ]),
    },
    queues: {
      title: 'Queues now',
      columns: [
        col('queue', 'Queue', 'text'),
        col('waiting', 'Waiting', 'count'),
        col('active', 'Active', 'count'),
        col('delayed', 'Delayed', 'count'),
        col('failed', 'Failed', 'count'),
        col('lag_s', 'Lag (s)', 'count'),
      ],
      rows: f.queues.map((q) => [q.queue, q.waiting, q.active, q.delayed, q.failed, q.lagS]),
    },
    nightly: nightlyTable(f),
    headroom: {
      title: 'Headroom',
      columns: [
        col('resource', 'Resource', 'text'),
        col('unit', 'Unit', 'unit'),
        col('used', 'Used', 'number'),
        col('limit', 'Limit', 'number'),
        col('used_share', 'Used', 'share'),
        col('growth_per_day', 'Growth a day (7 days)', 'number'),
        col('reached_on', 'Reached on', 'text'),
      ],
      rows: f.headroom.map((h) => [
        h.resource,
        h.unit,
        h.used,
        h.limit,
        share(h.used, h.limit),
        h.perDay === null ? null : round(h.perDay, 0),
        h.reached,
      ]),
    },
  };
}

function nightlyTable(f: DashboardFacts): Table {
  const ledger: Record<string, string> = {
    'export-cold': f.exports.map((e) => `${e.table} ${e.day} ${e.state}`).join('; '),
    'precompute-cache': (() => {
      const r = f.precompute.at(-1);
      return r ? `${r.day} ${r.state}: ${r.covered}/${r.candidates} keys covered` : '';
    })(),
    'rollup-usage': f.rollup ? `${f.rollup.day} rolled up at ${iso(f.rollup.at)}` : '',
  };
  return {
    title: 'Scheduled jobs',
    columns: [
      col('job', 'Job', 'text'),
      col('last_run', 'Last run', 'time'),
      col('outcome', 'Outcome', 'text'),
      col('ledger', 'Ledger', 'text'),
      col('error', 'Error', 'text'),
      col('next_run', 'Next run', 'time'),
    ],
    rows: f.nightly.map((n) => [
      n.queue,
      iso(n.lastAt),
      n.inCatalog ? n.outcome : 'not in this fleet',
      ledger[n.queue] ?? '',
      n.detail,
      iso(n.nextAt),
    ]),
  };
}

/** What the top users' budget column says: the highest budget reached, or none set. */
function budgetText(state: string | undefined): string | null {
  if (state === 'hard') return 'past hard budget';
  if (state === 'soft') return 'past soft budget';
  if (state === 'within') return 'within';
  return null;
}
