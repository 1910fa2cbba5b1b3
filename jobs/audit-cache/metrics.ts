import { Counter, Gauge, type Registry } from 'prom-client';
import { oncePerRegistry } from '../../shared/metrics/registry.ts';
import type { AuditResult } from './audit-cache.ts';

export interface AuditMetrics {
  /** Sets the gauges to this audit's figures (task types it did not judge drop out). */
  record(result: AuditResult): void;
}

/** The cache audit's metrics, registered once on the process's `/metrics` registry. */
export const auditMetrics = oncePerRegistry((registry: Registry): AuditMetrics => {
  const registers = [registry];
  const labelNames = ['task_type'] as const;
  const gauge = (name: string, help: string) => new Gauge({ name, help, labelNames, registers });
  const rate = gauge(
    'lowburn_cache_audit_false_hit_rate',
    'Share of the last audited day’s sampled semantic hits whose cached answer was wrong, by task type.',
  );
  const low = gauge(
    'lowburn_cache_audit_false_hit_rate_low',
    'Lower bound of the false-hit rate’s 95 % Wilson score interval, by task type.',
  );
  const high = gauge(
    'lowburn_cache_audit_false_hit_rate_high',
    'Upper bound of the false-hit rate’s 95 % Wilson score interval, by task type.',
  );
  const sampleSize = gauge(
    'lowburn_cache_audit_sample_size',
    'Semantic hits the last audit judged (asked again, with a usable answer), by task type.',
  );
  const falseHits = gauge(
    'lowburn_cache_audit_false_hits',
    'Judged semantic hits the last audit found wrong, by task type.',
  );
  const warnings = new Counter({
    name: 'lowburn_cache_audit_warnings_total',
    help: 'Audits that found a task type’s false-hit rate above SEMANTIC_MAX_FALSE_HIT.',
    labelNames,
    registers,
  });
  const lastRun = new Gauge({
    name: 'lowburn_cache_audit_last_run_timestamp_seconds',
    help: 'When this process last finished a cache audit (alert when older than a day and a bit).',
    registers,
  });
  return {
    record(result) {
      for (const g of [rate, low, high, sampleSize, falseHits]) g.reset();
      for (const task of result.tasks) {
        if (task.rate === null || task.interval === null) continue;
        const labels = { task_type: task.taskType };
        rate.set(labels, task.rate);
        low.set(labels, task.interval.low);
        high.set(labels, task.interval.high);
        sampleSize.set(labels, task.sampleSize);
        falseHits.set(labels, task.falseHits);
        if (task.aboveThreshold) warnings.inc(labels);
      }
      lastRun.setToCurrentTime();
    },
  };
});
