// When the day's CPAU misses the target: by how much, which component carries it, and
// what would close it. Pure: the inputs are `cost_daily`'s row and the run's own figures.

import { round } from '../support.ts';
import { pct } from './report.ts';

/** $100 a month at 10,000 users: the seeds' promise, per user and day. */
export const TARGET_CPAU_USD = 100 / 10_000 / (365 / 12);

/** `cost_daily`'s components, as the rollup writes them (USD a day). */
export interface CostComponents {
  active_users: number;
  token_usd: string | number;
  fleet_usd: string | number;
  database_usd: string | number;
  model_usd: string | number;
  storage_usd: string | number;
  requests_usd: string | number;
}

export interface RunFigures {
  /** Users one 2-core fleet box serves at 50 % CPU (from CPU-seconds per user-day). */
  usersPerBox: number;
  modelBoxes: { busiest: number; average: number };
  oracleHitRate: number;
  hitRate: number;
  fallbackShareMisses: number;
}

const LEVERS: Record<string, (r: RunFigures) => string> = {
  'model boxes': (r) =>
    `the busiest hour needs ${r.modelBoxes.busiest} model box(es), the average hour ${r.modelBoxes.average}: a queue that smooths the peak toward the average, more cache hits (achieved ${pct(r.hitRate)}, the oracle ${pct(r.oracleHitRate)}), or more users on the same boxes`,
  fleet: (r) =>
    `one fleet box serves ${r.usersPerBox.toLocaleString('en')} users at 50 % CPU: less CPU per user-day, or more users on the same box`,
  tokens: (r) => `fewer paid tokens: fallback is ${pct(r.fallbackShareMisses)} of cache misses`,
  database: () => 'a smaller hot window (HOT_RETENTION) or fewer ledger rows',
  storage: () => 'fewer cold bytes a day',
  requests: () => 'fewer webhook deliveries and storage requests',
};

/** The table's rows: met, or missed by how much, what carries it and what would close it. */
export function closeTheGap(c: CostComponents | undefined, r: RunFigures): [string, string][] {
  const label = 'CPAU target ($0.00033 a user-day: $100 a month at 10,000 users)';
  if (!c || c.active_users === 0) return [[label, 'no cost row']];
  const per = (usd: string | number) => Number(usd) / c.active_users;
  const parts = (
    [
      ['model boxes', per(c.model_usd)],
      ['fleet', per(c.fleet_usd)],
      ['tokens', per(c.token_usd)],
      ['database', per(c.database_usd)],
      ['storage', per(c.storage_usd)],
      ['requests', per(c.requests_usd)],
    ] as [string, number][]
  ).sort((a, b) => b[1] - a[1]);
  const cpau = parts.reduce((n, [, usd]) => n + usd, 0);
  if (cpau <= TARGET_CPAU_USD) return [[label, `met: $${round(cpau, 8)} a user-day`]];
  const over = cpau - TARGET_CPAU_USD;
  const [top = 'fleet', topUsd = 0] = parts[0] ?? [];
  const fixed = per(c.model_usd) + per(c.fleet_usd);
  return [
    [
      label,
      `missed by $${round(over, 8)} a user-day (${round(cpau / TARGET_CPAU_USD, 2)}× the target)`,
    ],
    [
      'what carries it (USD per user-day, share of CPAU)',
      parts.map(([name, usd]) => `${name} ${round(usd, 8)} (${pct(usd / cpau)})`).join(', '),
    ],
    [
      'what would close it',
      `${top} alone would have to fall by $${round(Math.min(over, topUsd), 8)} a user-day (${pct(Math.min(1, over / Math.max(topUsd, 1e-12)))} of it)${over > topUsd ? ', more than it costs: the others must fall too' : ''}; ${LEVERS[top]?.(r) ?? ''}. The boxes (fleet + model) are $${round(fixed, 8)} a user-day at ${c.active_users.toLocaleString('en')} active users`,
    ],
  ];
}
