import { Gauge, type Registry } from 'prom-client';
import type { DayLayers } from '../../shared/alerts/layer-shares.ts';
import { oncePerRegistry } from '../../shared/metrics/registry.ts';
import type { DayRollup } from './rollup-day.ts';

export interface RollupMetrics {
  /** Sets the gauges to a rolled-up day's figures (the hourly run's: the day in progress). */
  record(rollup: DayRollup): void;
  /** Sets the answer shares to a rolled-up day's (none: the day had no generations). */
  recordLayers(layers: DayLayers | undefined): void;
}

/** The usage rollup's figures as gauges, registered once on the process's `/metrics` registry. */
export const rollupMetrics = oncePerRegistry((registry: Registry): RollupMetrics => {
  const registers = [registry];
  const cpau = new Gauge({
    name: 'lowburn_cpau_usd',
    help: 'Cost per active user (USD) of the last rolled-up day: its total cost over its active users.',
    registers,
  });
  const activeUsers = new Gauge({
    name: 'lowburn_active_users',
    help: 'Users with any API call, generation or telemetry ping on the last rolled-up day.',
    registers,
  });
  const cost = new Gauge({
    name: 'lowburn_cost_usd',
    help: 'Cost (USD) of the last rolled-up day by component: tokens, fleet, database, model, storage, requests.',
    labelNames: ['component'],
    registers,
  });
  const cpauBy = new Gauge({
    name: 'lowburn_cpau_component_usd',
    help: 'Cost per active user (USD) of the last rolled-up day, by component.',
    labelNames: ['component'],
    registers,
  });
  const share = new Gauge({
    name: 'lowburn_cost_share',
    help: 'Share (0–1) of the last rolled-up day’s total cost, by component.',
    labelNames: ['component'],
    registers,
  });
  const answers = new Gauge({
    name: 'lowburn_answer_share',
    help: 'Share (0–1) of the last rolled-up day’s generations by where the answer came from: each cache layer, the local model, the frontier fallback.',
    labelNames: ['source'],
    registers,
  });
  return {
    recordLayers(layers) {
      const shares: Record<string, number> = {
        ...(layers?.hitRates ?? {}),
        local: layers?.localShare ?? 0,
        fallback: layers?.fallbackShare ?? 0,
      };
      for (const [source, share] of Object.entries(shares)) answers.set({ source }, share);
    },
    record({ cost: day, activeUsers: users }) {
      cpau.set(day.cpau ?? 0);
      activeUsers.set(users);
      for (const [component, usd] of Object.entries(day.components)) {
        cost.set({ component }, usd);
        cpauBy.set({ component }, users > 0 ? usd / users : 0);
        share.set({ component }, day.total > 0 ? usd / day.total : 0);
      }
    },
  };
});
