import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { oncePerRegistry } from '../../shared/metrics/registry.ts';
import type { RunTally } from './ledger.ts';

export interface PrecomputeMetrics {
  /** Adds one finished run's counts. */
  observe(tally: RunTally, seconds: number, stoppedBy: 'time' | null): void;
}

/** The precompute's metrics, registered once on the process's `/metrics` registry. */
export const precomputeMetrics = oncePerRegistry((registry: Registry): PrecomputeMetrics => {
  const registers = [registry];
  const keys = new Counter({
    name: 'lowburn_precompute_keys_total',
    help: 'Cache keys handled by precompute-cache, by outcome (fresh, local, frontier, invalid, failed, budget).',
    labelNames: ['outcome'],
    registers,
  });
  const tokens = new Counter({
    name: 'lowburn_precompute_tokens_total',
    help: 'Tokens the precompute spent, by direction (in, out).',
    labelNames: ['direction'],
    registers,
  });
  const cost = new Counter({
    name: 'lowburn_precompute_cost_usd_total',
    help: 'USD the precompute spent on the paid model.',
    registers,
  });
  const duration = new Histogram({
    name: 'lowburn_precompute_duration_seconds',
    help: 'Wall time of precompute-cache runs.',
    buckets: [10, 60, 300, 900, 1800, 3600, 7200],
    registers,
  });
  const stopped = new Counter({
    name: 'lowburn_precompute_budget_stops_total',
    help: 'Runs stopped by PRECOMPUTE_BUDGET_TIME before every key was started.',
    registers,
  });
  const lastSuccess = new Gauge({
    name: 'lowburn_precompute_last_success_timestamp_seconds',
    help: 'When a precompute-cache run last finished.',
    registers,
  });
  return {
    observe(tally, seconds, stoppedBy) {
      keys.inc({ outcome: 'fresh' }, tally.skippedFresh);
      keys.inc({ outcome: 'local' }, tally.generatedLocal);
      keys.inc({ outcome: 'frontier' }, tally.generatedFrontier);
      keys.inc({ outcome: 'invalid' }, tally.invalid);
      keys.inc({ outcome: 'failed' }, tally.failed);
      keys.inc({ outcome: 'budget' }, tally.skippedBudget);
      tokens.inc({ direction: 'in' }, tally.tokensIn);
      tokens.inc({ direction: 'out' }, tally.tokensOut);
      cost.inc(tally.costUsd);
      duration.observe(seconds);
      if (stoppedBy) stopped.inc();
      lastSuccess.setToCurrentTime();
    },
  };
});
