import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { ExportVerificationError } from '../../shared/errors/export-verification-error.ts';
import { isValidationKey } from './examples.ts';
import { sourceKinds } from './source.ts';
import type { Staged, StagedSide } from './stage.ts';
import { readLines, StagedFile, type StagedInfo } from './staged-file.ts';
import { TokenStats } from './tokens.ts';
import { LineCheckCounts } from './validate.ts';

export interface Finalized {
  train: StagedInfo;
  validation: StagedInfo;
  trainTokens: TokenStats;
  validationTokens: TokenStats;
  duplicateAfterScrub: number;
  writtenByKind: Record<string, number>;
  /** The cookbook's checks over every line kept; the caller refuses when one failed. */
  checks: LineCheckCounts;
}

/**
 * The staged examples as the files to publish, before anything is uploaded: lines a newer row
 * superseded are left out (a side's file is rewritten only when it holds one), the cookbook's
 * check counts, token statistics and kinds are tallied over the lines kept, and no prompt key
 * may be on both sides.
 */
export async function finalize(staged: Staged, options: { dir: string }): Promise<Finalized> {
  const out: Omit<Finalized, 'train' | 'validation'> = {
    trainTokens: new TokenStats(),
    validationTokens: new TokenStats(),
    duplicateAfterScrub: staged.duplicateAfterScrub,
    writtenByKind: {},
    checks: new LineCheckCounts(),
  };
  const trainKeys = new Set<number>();
  const validationKeys = new Set<number>();
  for (const [side, keys, tokens] of [
    [staged.train, trainKeys, out.trainTokens],
    [staged.validation, validationKeys, out.validationTokens],
  ] as const) {
    for (let i = 0; i < side.file.lines; i++) {
      const line = side.lines.get(i);
      if (staged.superseded.has(line)) continue;
      const failed = staged.failedChecks.get(line);
      if (failed) {
        out.checks.addFailed(failed);
        continue;
      }
      const key = staged.key.get(line);
      if (isValidationKey(key) !== (side === staged.validation)) {
        throw new ExportVerificationError(`line ${line} is on the wrong side of the split`);
      }
      keys.add(key);
      tokens.add(
        { total: staged.tokens.get(line), assistant: staged.assistantTokens.get(line) },
        staged.messages.get(line),
      );
      const kind = sourceKinds[staged.kind.get(line)] ?? 'unknown';
      out.writtenByKind[kind] = (out.writtenByKind[kind] ?? 0) + 1;
    }
  }
  let overlap = 0;
  for (const key of trainKeys) if (validationKeys.has(key)) overlap++;
  if (overlap > 0) {
    throw new ExportVerificationError(
      `${overlap} training prompt${overlap === 1 ? ' is' : 's are'} also in validation.jsonl`,
    );
  }
  return {
    ...out,
    train: await keptLines(staged, staged.train, join(options.dir, 'train.jsonl')),
    validation: await keptLines(staged, staged.validation, join(options.dir, 'validation.jsonl')),
  };
}

/**
 * A side's file without its superseded lines, at `path`: renamed when it has none (the usual
 * case), else copied line by line without them and checked to hold the lines it should.
 */
async function keptLines(staged: Staged, side: StagedSide, path: string): Promise<StagedInfo> {
  let drop = 0;
  for (let i = 0; i < side.file.lines; i++) if (staged.superseded.has(side.lines.get(i))) drop++;
  if (drop === 0) {
    await rename(side.file.path, path);
    return { ...side.file, path };
  }
  const kept = new StagedFile(path);
  try {
    let i = 0;
    for await (const text of readLines(side.file.path)) {
      const line = side.lines.get(i++);
      if (staged.superseded.has(line)) continue;
      const pending = kept.write(text);
      if (pending) await pending;
    }
    if (i !== side.file.lines) {
      throw new ExportVerificationError(
        `${side.file.path} reads back with ${i} lines; ${side.file.lines} were written`,
      );
    }
    return await kept.end();
  } catch (error) {
    kept.destroy();
    throw error;
  }
}
