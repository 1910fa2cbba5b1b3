import { join } from 'node:path';
import { cleanRow, type ExportFormat, formatLine, isValidationKey, keyNumber } from './examples.ts';
import type { ClassCounts, Scrubber } from './scrub.ts';
import { type SourceKind, type SourceRow, sourceKinds } from './source.ts';
import { StagedFile, type StagedInfo } from './staged-file.ts';
import { exampleTokens } from './tokens.ts';
import { checkExample, type LineCheck } from './validate.ts';

export interface StageOptions {
  dir: string;
  scrubber: Scrubber;
  maxTokens: number;
  format: ExportFormat;
  signal?: AbortSignal | undefined;
  /** Called after every chunk of rows with the rows done so far. */
  onRows?: (done: number) => void;
}

/** A typed array that grows by doubling: per-line figures at a few bytes each. */
export class Column<A extends Float64Array | Uint32Array | Uint8Array> {
  #data: A;
  constructor(make: (n: number) => A) {
    this.#data = make(1024);
  }
  set(i: number, value: number): void {
    if (i >= this.#data.length) {
      const bigger = new (this.#data.constructor as new (n: number) => A)(this.#data.length * 2);
      bigger.set(this.#data);
      this.#data = bigger;
    }
    this.#data[i] = value;
  }
  get(i: number): number {
    return this.#data[i] ?? 0;
  }
}

/** One side of the split as staged: its file and, per line, the example's global line number. */
export interface StagedSide {
  file: StagedInfo;
  lines: Column<Uint32Array>;
}

/**
 * Every example staged straight into its side's file (train or validation, by its prompt key),
 * with what finalising needs to know of each line without reading it back.
 */
export interface Staged {
  train: StagedSide;
  validation: StagedSide;
  /** Per example line (in staging order): the prompt key (52 bits), tokens, messages, kind. */
  key: Column<Float64Array>;
  tokens: Column<Uint32Array>;
  assistantTokens: Column<Uint32Array>;
  messages: Column<Uint32Array>;
  kind: Column<Uint8Array>;
  lines: number;
  /** Lines staged, then superseded by a newer row identical once scrubbed: left out at the end. */
  superseded: Set<number>;
  /** Rows identical once scrubbed to a newer one (superseded lines, and rows never staged). */
  duplicateAfterScrub: number;
  /** The cookbook checks each staged line failed, for the (rare) lines that failed one. */
  failedChecks: Map<number, LineCheck[]>;
  rows: number;
  scrubbed: ClassCounts;
  scrubbedExamples: number;
  unreadableRequest: number;
  secret: Record<string, number>;
  overMaxTokens: number;
  /** Examples counted exactly (their size could exceed the limit). */
  exactlyCounted: number;
}

/**
 * Turns the deduped source rows (in any order) into the export's lines in one pass: each row
 * rebuilt as its conversation plus the answer, every message scrubbed; rows with a residual
 * secret, and examples over `maxTokens`, are dropped and counted. Each example gets the
 * cookbook's checks and goes to train or validation by its prompt key, in the export's format.
 * Of rows identical once scrubbed, only the newest is kept: an older one seen later is not
 * staged, a newer one seen later marks the older line `superseded` (finalising leaves it out).
 * Memory: one DuckDB chunk, plus ~40 bytes per example.
 */
export async function stageExamples(
  chunks: AsyncIterable<Iterable<SourceRow>>,
  options: StageOptions,
): Promise<Staged> {
  const train = new StagedFile(join(options.dir, 'train.staged.jsonl'));
  const validation = new StagedFile(join(options.dir, 'validation.staged.jsonl'));
  const trainLines = new Column((n) => new Uint32Array(n));
  const validationLines = new Column((n) => new Uint32Array(n));
  const at = new Column((n) => new Float64Array(n));
  /** The line kept for each prompt key so far: the newest row's, once scrubbed. */
  const best = new Map<number, number>();
  const s: Omit<Staged, 'train' | 'validation'> = {
    key: new Column((n) => new Float64Array(n)),
    tokens: new Column((n) => new Uint32Array(n)),
    assistantTokens: new Column((n) => new Uint32Array(n)),
    messages: new Column((n) => new Uint32Array(n)),
    kind: new Column((n) => new Uint8Array(n)),
    lines: 0,
    superseded: new Set(),
    duplicateAfterScrub: 0,
    failedChecks: new Map(),
    rows: 0,
    scrubbed: {},
    scrubbedExamples: 0,
    unreadableRequest: 0,
    secret: {},
    overMaxTokens: 0,
    exactlyCounted: 0,
  };
  try {
    for await (const chunk of chunks) {
      options.signal?.throwIfAborted();
      for (const row of chunk) {
        s.rows++;
        const counts: ClassCounts = {};
        const cleaned = cleanRow(
          { request: String(row.request), answer: row.answer ?? '' },
          options.scrubber,
          counts,
        );
        if (!cleaned.ok) {
          if (cleaned.reason === 'unreadable_request') s.unreadableRequest++;
          else {
            const name = cleaned.secretClass ?? 'SECRET';
            s.secret[name] = (s.secret[name] ?? 0) + 1;
          }
          continue;
        }
        let replaced = false;
        for (const name in counts) {
          s.scrubbed[name] = (s.scrubbed[name] ?? 0) + (counts[name] ?? 0);
          replaced = true;
        }
        if (replaced) s.scrubbedExamples++;
        const tokens = exampleTokens(cleaned.messages, options.maxTokens);
        const counted = tokens instanceof Promise ? await tokens : tokens;
        if (counted.exact) s.exactlyCounted++;
        if (counted.total > options.maxTokens) {
          s.overMaxTokens++;
          continue;
        }
        const key = keyNumber(cleaned.promptKey);
        const time = row.at;
        const previous = best.get(key);
        if (previous !== undefined) {
          s.duplicateAfterScrub++;
          if (time <= at.get(previous)) continue;
          s.superseded.add(previous);
        }
        const line = s.lines++;
        best.set(key, line);
        const example = { messages: cleaned.messages };
        const failed = checkExample(example);
        if (failed.length > 0) s.failedChecks.set(line, failed);
        const openai = JSON.stringify(example);
        const toValidation = isValidationKey(key);
        const side = toValidation ? validation : train;
        (toValidation ? validationLines : trainLines).set(side.lines, line);
        const pending = side.write(formatLine(cleaned.messages, options.format, openai));
        if (pending) await pending;
        s.key.set(line, key);
        at.set(line, time);
        s.tokens.set(line, counted.total);
        s.assistantTokens.set(line, counted.assistant);
        s.messages.set(line, cleaned.messages.length);
        s.kind.set(line, sourceKinds.indexOf(row.kind as SourceKind));
      }
      options.onRows?.(s.rows);
    }
    return {
      ...s,
      train: { file: await train.end(), lines: trainLines },
      validation: { file: await validation.end(), lines: validationLines },
    };
  } catch (error) {
    train.destroy();
    validation.destroy();
    throw error;
  }
}
