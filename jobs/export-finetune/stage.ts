import { join } from 'node:path';
import type { Json } from '@duckdb/node-api';
import {
  cleanRow,
  type ExportFormat,
  formatLine,
  isValidation,
  keyNumber,
  openaiLine,
} from './examples.ts';
import type { ClassCounts, Scrubber } from './scrub.ts';
import { StagedFile, type StagedInfo } from './staged-file.ts';
import { exampleTokens, TokenStats } from './tokens.ts';

export interface StageOptions {
  dir: string;
  scrubber: Scrubber;
  maxTokens: number;
  format: ExportFormat;
  signal?: AbortSignal | undefined;
  /** Called after every chunk of rows with the rows done so far. */
  onRows?: (done: number) => void;
}

/** What staging kept and dropped, and the two local files it wrote. */
export interface Staged {
  rows: number;
  scrubbed: ClassCounts;
  scrubbedExamples: number;
  unreadableRequest: number;
  secret: Record<string, number>;
  duplicateAfterScrub: number;
  overMaxTokens: number;
  writtenByKind: Record<string, number>;
  train: StagedInfo;
  validation: StagedInfo;
  trainTokens: TokenStats;
  validationTokens: TokenStats;
}

const bump = (counts: Record<string, number>, key: string) => {
  counts[key] = (counts[key] ?? 0) + 1;
};

/**
 * Turns deduped source rows (newest first) into training lines in two local files: each row is
 * rebuilt as its conversation plus the answer and scrubbed; rows with a residual secret are
 * dropped, as are rows identical to a newer one once scrubbed and examples over `maxTokens`;
 * the rest go to train or validation by their scrubbed prompt's key. Memory per row is one
 * DuckDB chunk; per kept example, 8 bytes of dedup key and 12 of token counts.
 */
export async function stageExamples(
  chunks: AsyncIterable<Record<string, Json>[]>,
  options: StageOptions,
): Promise<Staged> {
  const train = new StagedFile(join(options.dir, 'train.jsonl'));
  const validation = new StagedFile(join(options.dir, 'validation.jsonl'));
  const seen = new Set<number>();
  const staged: Omit<Staged, 'train' | 'validation'> = {
    rows: 0,
    scrubbed: {},
    scrubbedExamples: 0,
    unreadableRequest: 0,
    secret: {},
    duplicateAfterScrub: 0,
    overMaxTokens: 0,
    writtenByKind: {},
    trainTokens: new TokenStats(),
    validationTokens: new TokenStats(),
  };
  try {
    for await (const chunk of chunks) {
      options.signal?.throwIfAborted();
      for (const row of chunk) {
        staged.rows++;
        const counts: ClassCounts = {};
        const cleaned = cleanRow(
          { request: String(row.request), answer: String(row.answer ?? '') },
          options.scrubber,
          counts,
        );
        if (!cleaned.ok) {
          if (cleaned.reason === 'secret') bump(staged.secret, cleaned.secretClass ?? 'SECRET');
          else staged.unreadableRequest++;
          continue;
        }
        const key = keyNumber(cleaned.promptKey);
        if (seen.has(key)) {
          staged.duplicateAfterScrub++;
          continue;
        }
        seen.add(key);
        const tokens = exampleTokens(cleaned.messages);
        if (tokens.total > options.maxTokens) {
          staged.overMaxTokens++;
          continue;
        }
        // Counted only for examples written: the manifest's per-class counts are what was
        // removed from the files.
        for (const [name, n] of Object.entries(counts)) {
          staged.scrubbed[name] = (staged.scrubbed[name] ?? 0) + n;
        }
        if (Object.keys(counts).length > 0) staged.scrubbedExamples++;
        bump(staged.writtenByKind, String(row.kind));
        const toValidation = isValidation(cleaned.promptKey);
        const line = formatLine(cleaned.messages, options.format, openaiLine(cleaned.messages));
        await (toValidation ? validation : train).write(line);
        (toValidation ? staged.validationTokens : staged.trainTokens).add(
          tokens,
          cleaned.messages.length,
        );
      }
      options.onRows?.(staged.rows);
    }
    return { ...staged, train: await train.end(), validation: await validation.end() };
  } catch (error) {
    train.destroy();
    validation.destroy();
    throw error;
  }
}
