import {
  resolveRequest,
  UnresolvableRequestError,
} from '../../shared/generation/resolve-request.ts';
import { generatePayloadSchema } from '../../shared/generation/schema.ts';
import { type ChatMessage, exactKey } from '../../shared/inference/request-keys.ts';
import type { ClassCounts, Scrubber } from './scrub.ts';

/** The output formats: OpenAI chat fine-tuning JSONL, or ShareGPT (axolotl, LLaMA-Factory). */
export type ExportFormat = 'openai' | 'sharegpt';

/** A recorded request's conversation as the model was asked it, or `undefined` if unreadable. */
export function conversationOf(requestJson: string): ChatMessage[] | undefined {
  let payload: unknown;
  try {
    payload = JSON.parse(requestJson);
  } catch {
    return undefined;
  }
  const parsed = generatePayloadSchema.safeParse(payload);
  if (!parsed.success) return undefined;
  try {
    return resolveRequest(parsed.data).messages;
  } catch (error) {
    if (error instanceof UnresolvableRequestError) return undefined; // a template since removed
    throw error;
  }
}

export type Cleaned =
  | { ok: true; messages: ChatMessage[]; promptKey: string }
  | { ok: false; reason: 'unreadable_request' | 'secret'; secretClass?: string };

/**
 * One row as a training example: the conversation as asked plus the answer, every message
 * scrubbed (counts added to `counts`), and the key of its scrubbed, normalised prompt — what
 * the split hashes and the post-scrub dedup compares. A row whose messages still hold a
 * secret the scrubber could not replace is refused with the secret's class.
 */
export function cleanRow(
  row: { request: string; answer: string },
  scrubber: Scrubber,
  counts: ClassCounts,
): Cleaned {
  const asked = conversationOf(row.request);
  if (!asked) return { ok: false, reason: 'unreadable_request' };
  const messages: ChatMessage[] = [];
  for (const message of [...asked, { role: 'assistant' as const, content: row.answer }]) {
    const content = scrubber.scrub(message.content, counts);
    const secret = scrubber.residual(content);
    if (secret) return { ok: false, reason: 'secret', secretClass: secret };
    messages.push({ role: message.role, content });
  }
  return { ok: true, messages, promptKey: exactKey(messages.slice(0, -1)) };
}

/** 10 % of prompts, chosen by their key: a prompt is always on the same side. */
export function isValidation(promptKey: string): boolean {
  return Number.parseInt(promptKey.slice(0, 8), 16) % 10 === 0;
}

/** 52 bits of a key as a number: a cheap Set entry for the post-scrub dedup and overlap check. */
export const keyNumber = (promptKey: string) => Number.parseInt(promptKey.slice(0, 13), 16);

/** The line the cookbook checks are run on (OpenAI chat form). */
export const openaiLine = (messages: readonly ChatMessage[]) => JSON.stringify({ messages });

const SHAREGPT_ROLE = { system: 'system', user: 'human', assistant: 'gpt' } as const;

/** The line written, in the export's format. */
export function formatLine(
  messages: readonly ChatMessage[],
  format: ExportFormat,
  openai: string,
): string {
  if (format === 'openai') return openai;
  return JSON.stringify({
    conversations: messages.map((m) => ({ from: SHAREGPT_ROLE[m.role], value: m.content })),
  });
}
