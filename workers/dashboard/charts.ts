import type { DashboardFacts } from './load.ts';
import { layerShares, paidModels } from './tables.ts';

/** What `assets/dashboard.js` draws: one chart, as JSON in the page. */
export interface ChartSpec {
  type: 'line' | 'bar';
  stacked?: boolean;
  horizontal?: boolean;
  /** How the value axis and tooltips read. */
  format: 'usd' | 'share' | 'number';
  labels: string[];
  datasets: { label: string; data: (number | null)[]; dashed?: boolean }[];
}

const nonZero = (d: { data: (number | null)[] }) => d.data.some((v) => v !== null && v !== 0);
const per = (n: number, users: number) => (users > 0 ? n / users : null);

/** The charts of the seven panels, keyed by the id of their canvas. */
export function buildCharts(f: DashboardFacts): Record<string, ChartSpec> {
  const days = f.days.map((d) => d.day.slice(5));
  const series = (label: string, pick: (d: DashboardFacts['days'][number]) => number | null) => ({
    label,
    data: f.days.map(pick),
  });
  const shares = f.days.map(layerShares);
  const perUser = (label: string, pick: (d: DashboardFacts['days'][number]) => number) => ({
    type: 'line' as const,
    format: 'number' as const,
    labels: days,
    datasets: [series(label, (d) => per(pick(d), d.activeUsers))],
  });
  return {
    cpau: {
      type: 'line',
      format: 'usd',
      labels: days,
      datasets: [
        series('CPAU', (d) => d.cpau),
        { label: 'Target', data: f.days.map(() => f.cpauTargetUsd), dashed: true },
      ],
    },
    'cost-split': {
      type: 'bar',
      stacked: true,
      format: 'usd',
      labels: days,
      datasets: [
        series('Fleet box', (d) => d.components.fleet),
        series('Database', (d) => d.components.database),
        series('Model boxes', (d) => d.components.model),
        series('Storage', (d) => d.components.storage + d.components.requests),
        ...paidModels(f.days).map((m) =>
          series(`Tokens · ${m}`, (d) => d.usage.byModel[m]?.usd ?? 0),
        ),
      ].filter(nonZero),
    },
    'per-user-tokens': perUser('Tokens', (d) => d.usage.tokensIn + d.usage.tokensOut),
    'per-user-writes': perUser('DB writes', (d) => d.usage.dbWrites),
    'per-user-calls': perUser('API calls', (d) => d.usage.apiCalls),
    cache: {
      type: 'line',
      format: 'share',
      labels: days,
      datasets: [
        ...['Precomputed', 'Exact', 'Template', 'Semantic'].map((label, i) => ({
          label,
          data: shares.map((s) => s.layers[i] ?? null),
        })),
        { label: 'Local model', data: shares.map((s) => s.local), dashed: true },
        { label: 'Fallback', data: shares.map((s) => s.fallback), dashed: true },
      ],
    },
    'top-users': {
      type: 'bar',
      horizontal: true,
      format: 'usd',
      labels: f.topUsers.map((u) => u.userId),
      datasets: [{ label: 'Cost', data: f.topUsers.map((u) => u.costUsd) }],
    },
    queues: {
      type: 'bar',
      horizontal: true,
      stacked: true,
      format: 'number',
      labels: f.queues.map((q) => q.queue),
      datasets: [
        { label: 'Waiting', data: f.queues.map((q) => q.waiting) },
        { label: 'Active', data: f.queues.map((q) => q.active) },
        { label: 'Delayed', data: f.queues.map((q) => q.delayed) },
        { label: 'Failed', data: f.queues.map((q) => q.failed) },
      ],
    },
    headroom: {
      type: 'bar',
      horizontal: true,
      format: 'share',
      labels: f.headroom.map((h) => h.resource),
      datasets: [
        { label: 'Used', data: f.headroom.map((h) => (h.limit > 0 ? h.used / h.limit : null)) },
      ],
    },
  };
}
