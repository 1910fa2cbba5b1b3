import { UnrecoverableError } from 'bullmq';
import { FinetuneRefusedError } from '../../shared/errors/finetune-refused-error.ts';
import { readFinetuneSet } from '../../shared/finetune/manifest.ts';
import { exportFinetuneQueue } from '../../shared/finetune/queue.ts';
import { defineJob } from '../../shared/queue/job-definition.ts';
import { finetuneMetrics } from './metrics.ts';
import { type FinetuneRequest, rebuildRequest, resolveFinetuneRequest } from './request.ts';

/**
 * The weekly fine-tune data export: the pairs the paid fallback answered (and, when asked, the
 * frontier-routed and shadow-validated ones) from hot and cold `generations`, deduped, scrubbed
 * and split into chat JSONL files with a manifest and an Ollama Modelfile under
 * `finetune/<task>/<day>/`. See `export-finetune.ts`.
 */
export const exportFinetuneJob = defineJob({
  ...exportFinetuneQueue,
  schedule: (config) => ({ cron: config.finetune.cron }),
  async process(payload, { deps, log, signal, job }) {
    const metrics = finetuneMetrics(deps.metrics);
    const started = performance.now();
    let request: FinetuneRequest;
    if (payload.rebuild) {
      // A set an erasure removed: written again from its own request, unless it already was.
      const set = await readFinetuneSet(deps.storage, payload.rebuild);
      if (set?.kind !== 'erased') {
        const why = set ? 'the set is published (rebuilt already?)' : 'no set in this folder';
        log.info({ prefix: payload.rebuild }, `nothing to rebuild: ${why}`);
        return { prefix: payload.rebuild, skipped: why };
      }
      request = rebuildRequest(set.manifest, payload.rebuild);
    } else {
      try {
        request = resolveFinetuneRequest(payload, deps.config, new Date());
      } catch (error) {
        if (error instanceof RangeError) throw new UnrecoverableError(error.message);
        throw error;
      }
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
