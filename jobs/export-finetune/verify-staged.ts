import { ExportVerificationError } from '../../shared/errors/export-verification-error.ts';
import { type ChatMessage, exactKey } from '../../shared/inference/request-keys.ts';
import { type ExportFormat, keyNumber } from './examples.ts';
import { readLines, type StagedInfo } from './staged-file.ts';
import { LineCheckCounts } from './validate.ts';

const ROLE_OF: Record<string, string> = { system: 'system', human: 'user', gpt: 'assistant' };

/** A written line as the OpenAI chat form the cookbook checks (`undefined`: not JSON). */
function parsed(line: string, format: ExportFormat): { value: unknown } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (format === 'sharegpt' && value && typeof value === 'object' && 'conversations' in value) {
    const turns = (value as { conversations: unknown }).conversations;
    if (Array.isArray(turns)) {
      value = {
        messages: turns.map((t: { from?: string; value?: unknown }) => ({
          role: ROLE_OF[t?.from ?? ''] ?? t?.from,
          content: t?.value,
        })),
      };
    }
  }
  return { value };
}

/**
 * Reads the staged files back, line by line, before anything is uploaded: every line gets the
 * cookbook's checks (counted in the returned {@link LineCheckCounts}), and every prompt is
 * keyed as the split keys it (scrubbed, normalised) to prove that no prompt is on both sides.
 * Throws {@link ExportVerificationError} on any overlap; the caller refuses on failed checks.
 */
export async function verifyStaged(
  train: StagedInfo,
  validation: StagedInfo,
  format: ExportFormat,
): Promise<{ checks: LineCheckCounts; overlap: number }> {
  const checks = new LineCheckCounts();
  const validationKeys = new Set<number>();
  const keyOf = async (file: StagedInfo, each: (key: number) => void) => {
    let lines = 0;
    for await (const line of readLines(file.path)) {
      lines++;
      const json = parsed(line, format);
      if (!json) {
        checks.add(line);
        continue;
      }
      if (!checks.add({ parsed: json.value })) continue;
      const messages = (json.value as { messages: ChatMessage[] }).messages;
      each(keyNumber(exactKey(messages.slice(0, -1))));
    }
    if (lines !== file.lines) {
      throw new ExportVerificationError(
        `${file.path} reads back with ${lines} lines; ${file.lines} were written`,
      );
    }
  };
  await keyOf(validation, (key) => validationKeys.add(key));
  let overlap = 0;
  await keyOf(train, (key) => {
    if (validationKeys.has(key)) overlap++;
  });
  if (overlap > 0) {
    throw new ExportVerificationError(
      `${overlap} training prompt${overlap === 1 ? ' is' : 's are'} also in validation.jsonl`,
    );
  }
  return { checks, overlap };
}
