import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { FinetuneManifest } from '../../shared/finetune/manifest.ts';
import { oncePerRegistry } from '../../shared/metrics/registry.ts';

export interface FinetuneMetrics {
  /** Adds one published export's counts. */
  observe(manifest: FinetuneManifest, seconds: number): void;
  /** Counts an export refused by its checks. */
  refused(): void;
}

/** The fine-tune export's metrics, registered once on the process's `/metrics` registry. */
export const finetuneMetrics = oncePerRegistry((registry: Registry): FinetuneMetrics => {
  const registers = [registry];
  const examples = new Counter({
    name: 'lowburn_finetune_examples_total',
    help: 'Training examples written by export-finetune, by split (train, validation).',
    labelNames: ['split'],
    registers,
  });
  const dropped = new Counter({
    name: 'lowburn_finetune_dropped_total',
    help: 'Rows export-finetune did not write, by reason (duplicate, secret, unreadable, too_long).',
    labelNames: ['reason'],
    registers,
  });
  const scrubbed = new Counter({
    name: 'lowburn_finetune_scrubbed_total',
    help: 'PII and secrets replaced by a placeholder in written examples, by class.',
    labelNames: ['class'],
    registers,
  });
  const refusals = new Counter({
    name: 'lowburn_finetune_refused_total',
    help: 'Exports refused by the dataset checks (nothing written).',
    registers,
  });
  const duration = new Histogram({
    name: 'lowburn_finetune_duration_seconds',
    help: 'Wall time of export-finetune runs that published.',
    buckets: [1, 5, 15, 60, 300, 900, 3600],
    registers,
  });
  const lastSuccess = new Gauge({
    name: 'lowburn_finetune_last_success_timestamp_seconds',
    help: 'When export-finetune last published a set of files.',
    registers,
  });
  return {
    observe(manifest, seconds) {
      const { counts } = manifest;
      examples.inc({ split: 'train' }, counts.split.train);
      examples.inc({ split: 'validation' }, counts.split.validation);
      const secrets = Object.values(counts.dropped.secret).reduce((a, b) => a + b, 0);
      dropped.inc({ reason: 'duplicate' }, counts.read - counts.deduped);
      dropped.inc({ reason: 'duplicate' }, counts.dropped.duplicateAfterScrub);
      dropped.inc({ reason: 'secret' }, secrets);
      dropped.inc({ reason: 'unreadable' }, counts.dropped.unreadableRequest);
      dropped.inc({ reason: 'too_long' }, counts.dropped.overMaxTokens);
      for (const [name, n] of Object.entries(counts.scrubbed)) scrubbed.inc({ class: name }, n);
      duration.observe(seconds);
      lastSuccess.setToCurrentTime();
    },
    refused() {
      refusals.inc();
    },
  };
});
