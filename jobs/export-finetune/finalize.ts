import { join } from 'node:path';
import { ExportVerificationError } from '../../shared/errors/export-verification-error.ts';
import type { ChatMessage } from '../../shared/inference/request-keys.ts';
import { type ExportFormat, formatLine, isValidationKey } from './examples.ts';
import { sourceKinds } from './source.ts';
import type { Candidates } from './stage.ts';
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
 * Reads the candidate lines back, before anything is uploaded: a line that is not its prompt's
 * `best` (an older row, identical once scrubbed) is dropped; every kept line gets the
 * cookbook's checks and goes to train or validation by its prompt key, in the export's format.
 * Verifies that no prompt key is on both sides.
 */
export async function finalize(
  candidates: Candidates,
  options: { dir: string; format: ExportFormat },
): Promise<Finalized> {
  const train = new StagedFile(join(options.dir, 'train.jsonl'));
  const validation = new StagedFile(join(options.dir, 'validation.jsonl'));
  const out: Omit<Finalized, 'train' | 'validation'> = {
    trainTokens: new TokenStats(),
    validationTokens: new TokenStats(),
    duplicateAfterScrub: 0,
    writtenByKind: {},
    checks: new LineCheckCounts(),
  };
  const trainKeys = new Set<number>();
  const validationKeys = new Set<number>();
  try {
    let i = 0;
    for await (const line of readLines(candidates.file.path)) {
      const n = i++;
      const key = candidates.key.get(n);
      if (candidates.best.get(key) !== n) {
        out.duplicateAfterScrub++;
        continue;
      }
      const parsed: unknown = JSON.parse(line);
      if (!out.checks.add({ parsed })) continue;
      const messages = (parsed as { messages: ChatMessage[] }).messages;
      const toValidation = isValidationKey(key);
      await (toValidation ? validation : train).write(formatLine(messages, options.format, line));
      (toValidation ? validationKeys : trainKeys).add(key);
      (toValidation ? out.validationTokens : out.trainTokens).add(
        { total: candidates.tokens.get(n), assistant: candidates.assistantTokens.get(n) },
        candidates.messages.get(n),
      );
      const kind = sourceKinds[candidates.kind.get(n)] ?? 'unknown';
      out.writtenByKind[kind] = (out.writtenByKind[kind] ?? 0) + 1;
    }
    if (i !== candidates.file.lines) {
      throw new ExportVerificationError(
        `${candidates.file.path} reads back with ${i} lines; ${candidates.file.lines} were written`,
      );
    }
    let overlap = 0;
    for (const key of trainKeys) if (validationKeys.has(key)) overlap++;
    if (overlap > 0) {
      throw new ExportVerificationError(
        `${overlap} training prompt${overlap === 1 ? ' is' : 's are'} also in validation.jsonl`,
      );
    }
    return { ...out, train: await train.end(), validation: await validation.end() };
  } catch (error) {
    train.destroy();
    validation.destroy();
    throw error;
  }
}
