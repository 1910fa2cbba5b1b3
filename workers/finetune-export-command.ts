import { type Command, InvalidArgumentError, Option } from 'commander';
import type { ExportProgress } from '../jobs/export-finetune/export-finetune.ts';
import { FinetuneRefusedError } from '../shared/errors/finetune-refused-error.ts';
import { InvalidPayloadError } from '../shared/errors/invalid-payload-error.ts';
import type { FinetuneManifest } from '../shared/finetune/manifest.ts';
import { exportFinetuneSchema } from '../shared/finetune/queue.ts';
import { bootConfig, processLogger } from './process.ts';

interface ExportOptions {
  task?: string;
  since?: string;
  until?: string;
  include?: string[];
  format: 'openai' | 'sharegpt';
  json?: boolean;
}

/**
 * Adds `lowburn finetune export`: runs the fine-tune export in this process (the job's own
 * code) with a progress bar on a terminal, and prints what it wrote and what it dropped.
 */
export function registerFinetuneExport(finetune: Command): void {
  finetune
    .command('export')
    .description(
      'write scrubbed, deduped chat JSONL train/validation files, a manifest and a Modelfile to object storage now',
    )
    .option('--task <type>', 'one task type (default: every one)')
    .option(
      '--since <when>',
      'start: a duration back (30d), a day or an ISO time (default: FINETUNE_WINDOW)',
    )
    .option('--until <when>', 'end, exclusive (default: now)')
    .option(
      '--include <sources>',
      'add frontier-routed and/or local-validated to the fallback pairs (comma-separated, repeatable)',
      (value: string, previous: string[]) => [
        ...previous,
        ...value.split(',').map((s) => s.trim()),
      ],
      [],
    )
    .addOption(
      new Option('--format <format>', 'line format')
        .choices(['openai', 'sharegpt'])
        .default('openai'),
    )
    .option('--json', 'print the manifest as JSON')
    .addHelpText(
      'after',
      `
Examples:
  lowburn finetune export --task summary --since 30d
  lowburn finetune export --include local-validated,frontier-routed --format sharegpt
Writes finetune/<task or all>/<today>/{train.jsonl,validation.jsonl,Modelfile,manifest.json}.`,
    )
    .action(async (opts: ExportOptions) => {
      const parsed = exportFinetuneSchema.safeParse({
        ...(opts.task && { task: opts.task }),
        ...(opts.since && { since: opts.since }),
        ...(opts.until && { until: opts.until }),
        ...(opts.include && { include: opts.include }),
        format: opts.format,
      });
      if (!parsed.success)
        throw InvalidPayloadError.fromZod('lowburn finetune export', parsed.error);
      const config = bootConfig();
      const [{ exportFinetune }, { resolveFinetuneRequest }, { createStorage }] = await Promise.all(
        [
          import('../jobs/export-finetune/export-finetune.ts'),
          import('../jobs/export-finetune/request.ts'),
          import('../shared/storage/create-storage.ts'),
        ],
      );
      let request: ReturnType<typeof resolveFinetuneRequest>;
      try {
        request = resolveFinetuneRequest(parsed.data, config, new Date());
      } catch (error) {
        if (error instanceof RangeError) throw new InvalidArgumentError(error.message);
        throw error;
      }
      const storage = await createStorage(config.storage);
      const bar = await progressBar();
      try {
        const manifest = await exportFinetune({
          config,
          storage,
          log: processLogger(config, 'finetune'),
          request,
          onProgress: bar?.update,
        });
        bar?.stop();
        process.stdout.write(
          opts.json
            ? `${JSON.stringify(manifest, null, 2)}\n`
            : `${summary(manifest, request.prefix)}\n`,
        );
      } catch (error) {
        bar?.stop();
        if (error instanceof FinetuneRefusedError) {
          process.stderr.write(`lowburn finetune export: ${error.message}\n`);
          process.exitCode = 1;
          return;
        }
        throw error;
      } finally {
        await storage.close();
      }
    });
}

/** One bar on stderr per stage (cold files fetched, rows cleaned), when stderr is a terminal. */
async function progressBar() {
  if (!process.stderr.isTTY) return undefined;
  const { SingleBar, Presets } = await import('cli-progress');
  const bar = new SingleBar(
    {
      stream: process.stderr,
      format: '{stage} {bar} {value}/{total}',
      hideCursor: true,
      clearOnComplete: true,
    },
    Presets.shades_classic,
  );
  let stage: string | undefined;
  return {
    update(p: ExportProgress) {
      if (p.stage !== 'fetch' && p.stage !== 'rows') return;
      const label = p.stage === 'fetch' ? 'fetching cold files' : 'cleaning rows      ';
      if (stage !== p.stage) {
        if (stage) bar.stop();
        if (p.total === 0) return;
        bar.start(p.total, p.done, { stage: label });
        stage = p.stage;
      } else bar.update(p.done);
    },
    stop() {
      if (stage) bar.stop();
      stage = undefined;
    },
  };
}

const n = (x: number) => x.toLocaleString('en-US');
const list = (counts: Record<string, number>) =>
  Object.entries(counts)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k} ${n(v)}`)
    .join(' · ') || 'none';

/** What an export wrote and dropped, in a few lines a person reads. */
export function summary(m: FinetuneManifest, prefix: string): string {
  const { counts, tokens } = m;
  const dist = tokens.train.perExample;
  return [
    `${prefix}: ${n(counts.split.train)} training and ${n(counts.split.validation)} validation examples (${m.lineFormat})`,
    `  read ${n(counts.read)} rows (${list(counts.readByKind)}), ${n(counts.deduped)} after dedup`,
    `  scrubbed: ${list(counts.scrubbed)} in ${n(counts.scrubbedExamples)} examples`,
    `  dropped: secrets ${list(counts.dropped.secret)}; duplicates once scrubbed ${n(counts.dropped.duplicateAfterScrub)}; over ${n(tokens.maxTokens)} tokens ${n(counts.dropped.overMaxTokens)}; unreadable ${n(counts.dropped.unreadableRequest)}`,
    dist
      ? `  tokens per training example: min ${n(dist.min)} · median ${n(dist.median)} · p90 ${n(dist.p90)} · max ${n(dist.max)}; ${n(tokens.train.total)} in all`
      : '  no training examples',
    `  OpenAI would train ${tokens.billing.epochs} epoch${tokens.billing.epochs === 1 ? '' : 's'} and bill ~${n(tokens.billing.billedTokens)} tokens`,
    `Next: train an adapter on train.jsonl, put it at ./adapter beside the Modelfile, then \`ollama create <name> -f Modelfile\` (base ${m.localModel.name}).`,
  ].join('\n');
}
