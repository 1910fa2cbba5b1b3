import { join } from 'node:path';
import type { Json } from '@duckdb/node-api';
import { cleanRow, keyNumber, openaiLine } from './examples.ts';
import type { ClassCounts, Scrubber } from './scrub.ts';
import { type SourceKind, sourceKinds } from './source.ts';
import { StagedFile, type StagedInfo } from './staged-file.ts';
import { exampleTokens } from './tokens.ts';

export interface StageOptions {
  dir: string;
  scrubber: Scrubber;
  maxTokens: number;
  signal?: AbortSignal | undefined;
  /** Called after every chunk of rows with the rows done so far. */
  onRows?: (done: number) => void;
}

/** A typed array that grows by doubling: per-candidate figures at a few bytes each. */
class Column<A extends Float64Array | Uint32Array | Uint8Array> {
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

/** Every candidate line, with what finalising needs to know of each without parsing it. */
export interface Candidates {
  file: StagedInfo;
  /** Per line: the prompt key (52 bits), tokens, messages and source kind. */
  key: Column<Float64Array>;
  tokens: Column<Uint32Array>;
  assistantTokens: Column<Uint32Array>;
  messages: Column<Uint32Array>;
  kind: Column<Uint8Array>;
  /** The line kept for each prompt key: the newest row's, once scrubbed. */
  best: Map<number, number>;
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
 * Turns the deduped source rows (in any order) into candidate lines in one local file: each
 * row rebuilt as its conversation plus the answer, every message scrubbed; rows with a residual
 * secret, and examples over `maxTokens`, are dropped and counted. Rows that are identical once
 * scrubbed are all staged; `best` names the newest of each, which finalising keeps. Memory:
 * one DuckDB chunk, plus ~40 bytes per candidate.
 */
export async function stageCandidates(
  chunks: AsyncIterable<Record<string, Json>[]>,
  options: StageOptions,
): Promise<Candidates> {
  const file = new StagedFile(join(options.dir, 'candidates.jsonl'));
  const at = new Column((n) => new Float64Array(n));
  const c: Omit<Candidates, 'file'> = {
    key: new Column((n) => new Float64Array(n)),
    tokens: new Column((n) => new Uint32Array(n)),
    assistantTokens: new Column((n) => new Uint32Array(n)),
    messages: new Column((n) => new Uint32Array(n)),
    kind: new Column((n) => new Uint8Array(n)),
    best: new Map(),
    rows: 0,
    scrubbed: {},
    scrubbedExamples: 0,
    unreadableRequest: 0,
    secret: {},
    overMaxTokens: 0,
    exactlyCounted: 0,
  };
  let line = 0;
  try {
    for await (const chunk of chunks) {
      options.signal?.throwIfAborted();
      for (let r = 0; r < chunk.length; r++) {
        const row = chunk[r] as Record<string, Json>;
        // Let go of each row once read: a scavenge mid-chunk then promotes only the rest.
        (chunk as unknown[])[r] = undefined;
        c.rows++;
        const counts: ClassCounts = {};
        const answer = row.answer === null ? '' : String(row.answer);
        const cleaned = cleanRow(
          { request: String(row.request), answer },
          options.scrubber,
          counts,
        );
        if (!cleaned.ok) {
          if (cleaned.reason === 'unreadable_request') c.unreadableRequest++;
          else
            c.secret[cleaned.secretClass ?? 'SECRET'] =
              (c.secret[cleaned.secretClass ?? 'SECRET'] ?? 0) + 1;
          continue;
        }
        for (const [name, n] of Object.entries(counts))
          c.scrubbed[name] = (c.scrubbed[name] ?? 0) + n;
        if (Object.keys(counts).length > 0) c.scrubbedExamples++;
        const tokens = await exampleTokens(cleaned.messages, options.maxTokens);
        if (tokens.exact) c.exactlyCounted++;
        if (tokens.total > options.maxTokens) {
          c.overMaxTokens++;
          continue;
        }
        const key = keyNumber(cleaned.promptKey);
        const time = Number(row.at);
        await file.write(openaiLine(cleaned.messages));
        c.key.set(line, key);
        at.set(line, time);
        c.tokens.set(line, tokens.total);
        c.assistantTokens.set(line, tokens.assistant);
        c.messages.set(line, cleaned.messages.length);
        c.kind.set(line, sourceKinds.indexOf(row.kind as SourceKind));
        const best = c.best.get(key);
        if (best === undefined || time > at.get(best)) c.best.set(key, line);
        line++;
      }
      options.onRows?.(c.rows);
    }
    return { ...c, file: await file.end() };
  } catch (error) {
    file.destroy();
    throw error;
  }
}
