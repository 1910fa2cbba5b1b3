import { z } from 'zod';
import { parseDuration } from '../config/duration.ts';
import { finetuneIncludes } from '../config/finetune-config.ts';
import { taskTypes } from '../generation/schema.ts';
import { defineQueue } from '../queue/job-definition.ts';
import { finetunePrefixPattern } from './manifest.ts';

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** `30d` (that long before now), a UTC day `2026-11-01` (its midnight) or an ISO time. */
export function parseTime(text: string, now: Date): Date | undefined {
  // A unit is required: a bare number would read as milliseconds.
  const ms = /\d\s*(?:ms|s|m|h|d)\s*$/.test(text) ? parseDuration(text) : undefined;
  if (ms !== undefined) return new Date(now.getTime() - ms);
  const date = new Date(DAY.test(text) ? `${text}T00:00:00Z` : text);
  return Number.isNaN(date.getTime()) || !/^\d{4}-/.test(text) ? undefined : date;
}

const time = z
  .string()
  .max(40)
  .refine((t) => parseTime(t, new Date()) !== undefined, {
    message: 'must be a duration like 30d, a day like 2026-11-01, or an ISO time',
  });

/** The `export-finetune` payload; the scheduled run sends `{}` and takes every default. */
export const exportFinetuneSchema = z
  .object({
    task: z.enum(taskTypes).optional().describe('One task type; every one when unset.'),
    since: time.optional().describe('Start of the range (default: FINETUNE_WINDOW before now).'),
    until: time.optional().describe('End of the range, exclusive (default: now).'),
    include: z
      .array(z.enum(finetuneIncludes))
      .max(finetuneIncludes.length)
      .optional()
      .describe('Sources added to the fallback pairs (default: FINETUNE_INCLUDE).'),
    format: z.enum(['openai', 'sharegpt']).optional().describe('Line format (default: openai).'),
    rebuild: z
      .string()
      .regex(finetunePrefixPattern, "must be a set's folder, like finetune/all/2026-12-06/")
      .optional()
      .describe(
        "Write the set in this folder again from its manifest's own request (after an erasure removed it); no other field with it.",
      ),
  })
  .strict()
  .refine((p) => p.rebuild === undefined || Object.keys(p).length === 1, {
    message: 'rebuild takes its range, task, sources and format from the set: give no other field',
  });
export type ExportFinetunePayload = z.output<typeof exportFinetuneSchema>;

/**
 * The `export-finetune` queue's contract: the CLI and `apply-erasures` (rebuilding a set an
 * erasure removed) enqueue against it; the job (`jobs/export-finetune`) writes the sets.
 */
export const exportFinetuneQueue = defineQueue({
  queue: 'export-finetune',
  description:
    'Write deduped, PII-scrubbed chat JSONL train/validation files, a manifest and a Modelfile from the fallback pairs (hot and cold) to object storage.',
  schema: exportFinetuneSchema,
  // One export at a time; a million rows take about a minute, the timeout leaves room for a
  // slow bucket. A failed attempt leaves no manifest, so a retry rewrites the set whole.
  options: { attempts: 3, backoffMs: 5 * 60_000, timeoutMs: 2 * 60 * 60_000, concurrency: 1 },
});
