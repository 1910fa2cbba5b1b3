import { FinetuneRefusedError } from '../../shared/errors/finetune-refused-error.ts';

/**
 * The checks of the OpenAI cookbook's "Data preparation and analysis for chat model
 * fine-tuning", applied to each line about to be written (OpenAI chat form). Each names the
 * count the refusal reports.
 */
export const lineChecks = [
  'invalid_json',
  'data_type',
  'missing_messages_list',
  'unrecognized_key',
  'message_missing_key',
  'message_unrecognized_key',
  'unrecognized_role',
  'missing_content',
  'example_missing_assistant_message',
  'last_message_not_assistant',
] as const;
export type LineCheck = (typeof lineChecks)[number];

/** The fewest training examples OpenAI accepts in a file. */
export const MIN_EXAMPLES = 10;

/** Top-level keys a chat fine-tuning line may carry besides `messages`. */
const EXAMPLE_KEYS = new Set(['messages', 'tools', 'parallel_tool_calls', 'functions']);
const MESSAGE_KEYS = new Set(['role', 'content', 'name', 'weight', 'function_call', 'tool_calls']);
const ROLES = new Set(['system', 'user', 'assistant']);

/** The checks one JSONL line fails; empty when it is a valid chat fine-tuning example. */
export function checkLine(line: string): LineCheck[] {
  let example: unknown;
  try {
    example = JSON.parse(line);
  } catch {
    return ['invalid_json'];
  }
  return checkExample(example);
}

/** The checks one parsed line fails (OpenAI chat form). */
export function checkExample(example: unknown): LineCheck[] {
  if (!example || typeof example !== 'object' || Array.isArray(example)) return ['data_type'];
  const failed = new Set<LineCheck>();
  const record = example as Record<string, unknown>;
  if (Object.keys(record).some((key) => !EXAMPLE_KEYS.has(key))) failed.add('unrecognized_key');
  const messages = record.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    failed.add('missing_messages_list');
    return [...failed];
  }
  for (const message of messages as unknown[]) {
    if (!message || typeof message !== 'object' || Array.isArray(message)) {
      failed.add('message_missing_key');
      continue;
    }
    const m = message as Record<string, unknown>;
    if (!('role' in m) || !('content' in m)) failed.add('message_missing_key');
    if (Object.keys(m).some((key) => !MESSAGE_KEYS.has(key))) {
      failed.add('message_unrecognized_key');
    }
    if (typeof m.role !== 'string' || !ROLES.has(m.role)) failed.add('unrecognized_role');
    if (typeof m.content !== 'string' || m.content === '') failed.add('missing_content');
  }
  const roles = (messages as { role?: unknown }[]).map((m) => m?.role);
  if (!roles.includes('assistant')) failed.add('example_missing_assistant_message');
  else if (roles.at(-1) !== 'assistant') failed.add('last_message_not_assistant');
  return [...failed];
}

/** Failed-check counts over a dataset, as the refusal and the manifest report them. */
export class LineCheckCounts {
  readonly counts: Partial<Record<LineCheck, number>> = {};

  /** Records the checks a line (text or parsed) failed; true when it passed every one. */
  add(line: string | { parsed: unknown }): boolean {
    const failed = typeof line === 'string' ? checkLine(line) : checkExample(line.parsed);
    this.addFailed(failed);
    return failed.length === 0;
  }

  /** Records the checks one example failed (checked before: {@link checkExample}). */
  addFailed(failed: readonly LineCheck[]): void {
    for (const check of failed) this.counts[check] = (this.counts[check] ?? 0) + 1;
  }

  /**
   * Throws {@link FinetuneRefusedError} naming each failed check's count, and the training
   * example count when it is under {@link MIN_EXAMPLES}; returns when the dataset may be written.
   */
  assertWritable(trainExamples: number): void {
    const failed = Object.entries(this.counts).filter(([, n]) => (n ?? 0) > 0) as [
      string,
      number,
    ][];
    const problems = failed.map(
      ([check, n]) => `${n} example${n === 1 ? '' : 's'} failed ${check}`,
    );
    const counts: Record<string, number> = Object.fromEntries(failed);
    if (trainExamples < MIN_EXAMPLES) {
      problems.push(
        `${trainExamples} training example${trainExamples === 1 ? '' : 's'} (too_few_examples: at least ${MIN_EXAMPLES} needed)`,
      );
      counts.too_few_examples = trainExamples;
    }
    if (problems.length > 0) throw new FinetuneRefusedError(counts, problems.join('; '));
  }
}

/** The checks a whole JSONL text fails, line by line (for files written by anything). */
export function checkJsonl(text: string, trainExamples?: number): void {
  const counts = new LineCheckCounts();
  let n = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    counts.add(line);
    n++;
  }
  counts.assertWritable(trainExamples ?? n);
}
