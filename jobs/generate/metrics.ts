import { Counter, Histogram, type Registry } from 'prom-client';
import type { InferenceConfig } from '../../shared/config/load-config.ts';
import type { GenerationOutcome, GenerationRequest } from '../../shared/inference/pipeline.ts';
import { oncePerRegistry } from '../../shared/metrics/registry.ts';
import { avoidedCostUsd, layersTried } from './cache-savings.ts';

export interface GenerationMetrics {
  /** One completed generation: its source, latency, spend, and each cache layer's hit or miss. */
  observe(
    outcome: GenerationOutcome,
    latencyMs: number,
    request: GenerationRequest,
    config: InferenceConfig,
  ): void;
  failures: Counter<'task_type'>;
}

/** Generation metrics, registered once on the process's `/metrics` registry. */
export const generationMetrics = oncePerRegistry((registry: Registry): GenerationMetrics => {
  const registers = [registry];
  const answered = new Counter({
    name: 'lowburn_generations_total',
    help: 'Generations answered, by source (a cache layer, local or frontier) and task type.',
    labelNames: ['source', 'task_type'],
    registers,
  });
  const fallbacks = new Counter({
    name: 'lowburn_generation_fallbacks_total',
    help: 'Local answers that failed and went to the frontier model, by reason.',
    labelNames: ['reason'],
    registers,
  });
  const cost = new Counter({
    name: 'lowburn_generation_cost_usd_total',
    help: 'Model spend in USD, by model.',
    labelNames: ['model'],
    registers,
  });
  const tokens = new Counter({
    name: 'lowburn_generation_tokens_total',
    help: 'Model tokens, by route and direction.',
    labelNames: ['route', 'direction'],
    registers,
  });
  const latency = new Histogram({
    name: 'lowburn_generation_seconds',
    help: 'Time from dequeue to answer, by source.',
    labelNames: ['source'],
    buckets: [0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  const failures = new Counter({
    name: 'lowburn_generation_failures_total',
    help: 'Generation jobs that failed for good.',
    labelNames: ['task_type'],
    registers,
  });
  const hits = new Counter({
    name: 'lowburn_cache_hits_total',
    help: 'Completed generations a cache layer answered, by layer and task type.',
    labelNames: ['layer', 'task_type'],
    registers,
  });
  const misses = new Counter({
    name: 'lowburn_cache_misses_total',
    help: 'Completed generations a cache layer was asked for and could not answer, by layer and task type.',
    labelNames: ['layer', 'task_type'],
    registers,
  });
  const saved = new Counter({
    name: 'lowburn_cache_saved_usd_total',
    help: "USD the model calls avoided by cache hits would have cost on their route (MODEL_PRICES of the route's model x tokens estimated as characters / 4; an unpriced local model costs 0), by layer and task type.",
    labelNames: ['layer', 'task_type'],
    registers,
  });
  const metrics: GenerationMetrics = {
    failures,
    observe(outcome, latencyMs, request, config) {
      const taskType = request.taskType;
      const source = outcome.layer ?? outcome.route ?? 'local';
      answered.inc({ source, task_type: taskType });
      for (const layer of layersTried(request, outcome.layer)) {
        const labels = { layer, task_type: taskType };
        if (layer !== outcome.layer) misses.inc(labels);
        else {
          hits.inc(labels);
          saved.inc(labels, avoidedCostUsd(request, outcome.answer, config));
        }
      }
      latency.observe({ source }, latencyMs / 1000);
      if (outcome.fallback) fallbacks.inc({ reason: outcome.fallback.reason });
      if (outcome.route) {
        cost.inc({ model: outcome.model }, outcome.costUsd);
        tokens.inc({ route: outcome.route, direction: 'in' }, outcome.tokensIn);
        tokens.inc({ route: outcome.route, direction: 'out' }, outcome.tokensOut);
      }
    },
  };
  return metrics;
});
