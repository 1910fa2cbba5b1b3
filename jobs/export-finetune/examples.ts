import { createHash } from 'node:crypto';
import {
  resolveRequest,
  UnresolvableRequestError,
} from '../../shared/generation/resolve-request.ts';
import type { GeneratePayload } from '../../shared/generation/schema.ts';
import { type ChatMessage, normaliseText } from '../../shared/inference/request-keys.ts';
import type { ClassCounts, Scrubber } from './scrub.ts';

/** The output formats: OpenAI chat fine-tuning JSONL, or ShareGPT (axolotl, LLaMA-Factory). */
export type ExportFormat = 'openai' | 'sharegpt';

const ROLES = new Set(['system', 'user', 'assistant']);

/**
 * A recorded request's conversation as the model was asked it (`resolveRequest`, templates
 * rendered), or `undefined` when the row cannot say (unreadable JSON, no input, a template since
 * removed). Only the fields that make the conversation are checked: the row was validated in
 * full when it was enqueued, and a full schema parse per row costs more than the rest of the
 * row's cleaning.
 */
export function conversationOf(requestJson: string): ChatMessage[] | undefined {
  let payload: Partial<GeneratePayload> | null;
  try {
    payload = JSON.parse(requestJson) as Partial<GeneratePayload> | null;
  } catch {
    return undefined;
  }
  if (!payload || typeof payload !== 'object') return undefined;
  const { prompt, messages, template } = payload;
  if (messages !== undefined) {
    if (!Array.isArray(messages) || messages.length === 0) return undefined;
    for (const m of messages) {
      if (!m || !ROLES.has(m.role) || typeof m.content !== 'string') return undefined;
    }
  } else if (typeof prompt !== 'string' && typeof template !== 'string') return undefined;
  try {
    return resolveRequest(payload as GeneratePayload).messages;
  } catch (error) {
    if (error instanceof UnresolvableRequestError) return undefined;
    throw error;
  }
}

/**
 * The key of a prompt (the messages before the answer): SHA-256 over each message's role and
 * whitespace-normalised content. The split hashes it and the post-scrub dedup compares it.
 */
export function promptKey(messages: readonly ChatMessage[]): string {
  const hash = createHash('sha256');
  for (const m of messages) {
    // Most texts are normal already; the test is cheaper than the replace it saves.
    const text = /\s\s|[^\S ]|^ | $/.test(m.content) ? normaliseText(m.content) : m.content;
    hash.update(`${m.role}\u0000${text}\u0001`);
  }
  return hash.digest('hex');
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
  return { ok: true, messages, promptKey: promptKey(messages.slice(0, -1)) };
}

/** 52 bits of a key as a number: a cheap Map entry for the post-scrub dedup and the split. */
export const keyNumber = (promptKey: string) => Number.parseInt(promptKey.slice(0, 13), 16);

/** 10 % of prompts, chosen by their key: a prompt is always on the same side. */
export const isValidationKey = (key: number) => key % 10 === 0;

/** {@link isValidationKey} of a hex prompt key. */
export const isValidation = (promptKey: string) => isValidationKey(keyNumber(promptKey));

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
