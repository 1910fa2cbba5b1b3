import { createHash } from 'node:crypto';
import { canonicalJson } from '../json/canonical-json.ts';

/** One chat message as models take it. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** What decides a cache namespace: change any part and old entries stop matching. */
export interface NamespaceParts {
  taskType: string;
  localModel: string;
  localModelVersion: string;
  /** The local model's content digest (Ollama's), when known: a re-pulled model is a new one. */
  localModelDigest?: string | undefined;
  embedModel: string;
  /** `<id>@<version>` for template requests. */
  template?: string;
  /** The JSON Schema the answer must satisfy, if any: a different schema is a different answer. */
  responseFormat?: unknown;
  /** The API key's cache scope: answers never cross scopes. */
  scope?: string | undefined;
  /** Set for per-user caching: the end user whose answers these are. */
  user?: string | undefined;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Whitespace runs collapsed to one space and the ends trimmed; case and punctuation kept. */
export const normaliseText = (text: string) => text.replace(/\s+/g, ' ').trim();

/** A short, stable id for a namespace (Redis keys and index namespaces use it). */
export function namespaceKey(parts: NamespaceParts): string {
  return sha256(
    canonicalJson({
      t: parts.taskType,
      m: `${parts.localModel}@${parts.localModelVersion}`,
      ...(parts.localModelDigest ? { d: parts.localModelDigest } : {}),
      e: parts.embedModel,
      tpl: parts.template ?? null,
      rf: parts.responseFormat ?? null,
      ...(parts.scope !== undefined ? { s: parts.scope } : {}),
      ...(parts.user !== undefined ? { u: parts.user } : {}),
    }),
  ).slice(0, 24);
}

/** The exact-cache key of a conversation: a hash of its normalised messages. */
export function exactKey(messages: readonly ChatMessage[]): string {
  return sha256(canonicalJson(messages.map((m) => [m.role, normaliseText(m.content)])));
}

/**
 * The one prompt a request can be embedded by, or `undefined` when the semantic layer must not
 * be used: multi-turn conversations never are (a follow-up means something only in its context).
 */
export function semanticText(messages: readonly ChatMessage[]): string | undefined {
  const turns = messages.filter((m) => m.role !== 'system');
  if (turns.length !== 1 || turns[0]?.role !== 'user') return undefined;
  return normaliseText(messages.map((m) => m.content).join('\n'));
}

const NUMBER = /[-+]?\d+(?:[.,]\d+)*/g;
const QUOTED = /"[^"]*"|“[^”]*”|'[^'\s][^']*'/g;

/**
 * The facts two prompts must share for one to reuse the other's answer: every number and every
 * quoted string, in order. "Total of 10 and 12" and "Total of 10 and 13" embed almost alike and
 * must not share an answer.
 */
export function literalFacts(text: string): string {
  return JSON.stringify([text.match(NUMBER) ?? [], (text.match(QUOTED) ?? []).map(normaliseText)]);
}
