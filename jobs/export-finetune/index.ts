import { UnrecoverableError } from 'bullmq';
import { FinetuneRefusedError } from '../../shared/errors/finetune-refused-error.ts';
import { defineJob } from '../../shared/queue/job-definition.ts';
import { finetuneMetrics } from './metrics.ts';
import { exportFinetuneSchema, resolveFinetuneRequest } from './request.ts';

/**
 * The weekly fine-tune data export: the pairs the paid fallback answered (and, when asked, the
 * frontier-routed and shadow-validated ones) from hot and cold `generations`, deduped, scrubbed
 * and split into chat JSONL files with a manifest and an Ollama Modelfile under
 * `finetune/<task>/<day>/`. See `export-finetune.ts`.
 */
export const exportFinetuneJob = defineJob({
  queue: 'export-finetune',
  description:
    'Write deduped, PII-scrubbed chat JSONL train/validation files, a manifest and a Modelfile from the fallback pairs (hot and cold) to object storage.',
  schema: exportFinetuneSchema,
  // One export at a time; a million rows take about a minute, the timeout leaves room for a
  // slow bucket. A failed attempt leaves no manifest, so a retry rewrites the set whole.
  options: { attempts: 3, backoffMs: 5 * 60_000, timeoutMs: 2 * 60 * 60_000, concurrency: 1 },
  schedule: (config) => ({ cron: config.finetune.cron }),
  async process(payload, { deps, log, signal, job }) {
    const metrics = finetuneMetrics(deps.metrics);
    const started = performance.now();
    let request: ReturnType<typeof resolveFinetuneRequest>;
    try {
      request = resolveFinetuneRequest(payload, deps.config, new Date());
    } catch (error) {
      if (error instanceof RangeError) throw new UnrecoverableError(error.message);
      throw error;
    }
    try {
      // Loaded when an export runs: the tokenizer's tables alone are ~100 MB of RSS, which no
      // other job, the API or an idle worker should carry.
      const { exportFinetune } = await import('./export-finetune.ts');
      const manifest = await exportFinetune({
        config: deps.config,
        storage: deps.storage,
        log,
        request,
        signal,
        onProgress: (progress) => {
          job.updateProgress(progress).catch(() => {});
        },
      });
      metrics.observe(manifest, (performance.now() - started) / 1000);
      return {
        prefix: manifest.files[0]?.key.replace(/[^/]+$/, ''),
        counts: manifest.counts,
        billing: manifest.tokens.billing,
      };
    } catch (error) {
      if (error instanceof FinetuneRefusedError) metrics.refused();
      throw error;
    }
  },
});
