import { Counter, type Registry } from 'prom-client';
import { oncePerRegistry } from '../../shared/metrics/registry.ts';

/** What one shadow comparison came to. */
export type ShadowOutcome = 'agreed' | 'disagreed' | 'inconclusive';

export interface ShadowMetrics {
  /** Counts one comparison and what its frontier call cost. */
  record(taskType: string, outcome: ShadowOutcome, costUsd: number): void;
}

/** The shadow comparison's metrics, registered once on the process's `/metrics` registry. */
export const shadowMetrics = oncePerRegistry((registry: Registry): ShadowMetrics => {
  const registers = [registry];
  const comparisons = new Counter({
    name: 'lowburn_shadow_comparisons_total',
    help: 'Local answers asked of the frontier model again, by task type and outcome (agreed, disagreed, inconclusive: the frontier answer was unusable).',
    labelNames: ['task_type', 'outcome'] as const,
    registers,
  });
  const cost = new Counter({
    name: 'lowburn_shadow_cost_usd_total',
    help: 'USD the shadow comparisons’ frontier calls cost (MODEL_PRICES), apart from the generations’, by task type.',
    labelNames: ['task_type'] as const,
    registers,
  });
  return {
    record(taskType, outcome, costUsd) {
      comparisons.inc({ task_type: taskType, outcome });
      if (costUsd > 0) cost.inc({ task_type: taskType }, costUsd);
    },
  };
});
