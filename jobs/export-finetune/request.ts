import { z } from 'zod';
import { parseDuration } from '../../shared/config/duration.ts';
import { type FinetuneInclude, finetuneIncludes } from '../../shared/config/finetune-config.ts';
import type { Config } from '../../shared/config/load-config.ts';
import { taskTypes } from '../../shared/generation/schema.ts';
import type { ExportFormat } from './examples.ts';

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
  })
  .strict();
export type ExportFinetunePayload = z.output<typeof exportFinetuneSchema>;

/** A payload with every default filled in. */
export interface FinetuneRequest {
  task: string | undefined;
  since: Date;
  until: Date;
  include: FinetuneInclude[];
  format: ExportFormat;
  /** `finetune/<task or all>/<YYYY-MM-DD>/`: the UTC day of the run. */
  prefix: string;
}

export function resolveFinetuneRequest(
  payload: ExportFinetunePayload,
  config: Config,
  now: Date,
): FinetuneRequest {
  const until = payload.until ? (parseTime(payload.until, now) as Date) : now;
  const since = payload.since
    ? (parseTime(payload.since, now) as Date)
    : new Date(until.getTime() - config.finetune.windowMs);
  if (since >= until) {
    throw new RangeError(
      `--since ${since.toISOString()} is not before --until ${until.toISOString()}`,
    );
  }
  return {
    task: payload.task,
    since,
    until,
    include: [...new Set(payload.include ?? config.finetune.include)],
    format: payload.format ?? 'openai',
    prefix: `finetune/${payload.task ?? 'all'}/${now.toISOString().slice(0, 10)}/`,
  };
}
