import { z } from 'zod';
import { defineJob } from '../../shared/queue/job-definition.ts';
import { flushTelemetry } from '../../shared/telemetry/flush.ts';
import { flushMetrics } from './metrics.ts';

/**
 * Writes the buffered pings to Postgres in batches, every `TELEMETRY_FLUSH_EVERY` (10 s):
 * a few batched, idempotent writes instead of one write per ping.
 */
export const flushTelemetryJob = defineJob({
  queue: 'flush-telemetry',
  description: 'Drain the telemetry stream into Postgres with batched, idempotent writes.',
  schema: z.object({}).strict(),
  // One at a time per worker; the consumer group makes several workers safe anyway.
  options: { attempts: 3, backoffMs: 2_000, timeoutMs: 120_000, concurrency: 1 },
  schedule: (config) => ({ every: config.telemetry.flushEveryMs }),
  async process(_payload, { deps, signal, log }) {
    const { config } = deps;
    const metrics = flushMetrics(deps.metrics, deps.redis, config.queuePrefix);
    const started = performance.now();
    const result = await flushTelemetry({
      redis: deps.redis,
      db: deps.db,
      prefix: config.queuePrefix,
      log,
      batchSize: config.telemetry.batchSize,
      budgetMs: config.telemetry.flushBudgetMs,
      signal,
    });
    metrics.rows.observe(result.inserted);
    metrics.duration.observe((performance.now() - started) / 1000);
    metrics.duplicates.inc(result.duplicates);
    metrics.rewrites.inc(result.rewrites);
    if (result.read > 0) log.info(result, 'flushed telemetry');
    return result;
  },
});
