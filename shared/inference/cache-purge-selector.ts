import { z } from 'zod';

// Imports zod alone: the API's schemas, and through them the fetch-only client's build (no
// `node:` modules), include this file.

/** The fields that say what to purge; `scope` only narrows them. */
export const purgeSelectors = [
  'taskType',
  'template',
  'prompt',
  'messages',
  'key',
  'namespace',
] as const;

const NAME = /^[a-z0-9][a-z0-9._-]{0,99}$/;

/** The selector's fields, for schemas that add their own (the API's `dryRun`). */
export const cachePurgeSelectorFields = {
  taskType: z
    .string()
    .regex(NAME, 'must be a task type like summary')
    .optional()
    .describe('Every namespace of this task type.'),
  template: z
    .string()
    .regex(
      /^[a-z0-9][a-z0-9._-]{0,99}(@[A-Za-z0-9._-]{1,50})?$/,
      'must be a template id, optionally with a version: product-title or product-title@2',
    )
    .optional()
    .describe('Every namespace of this template (all versions, or `id@version`).'),
  prompt: z
    .string()
    .min(1)
    .max(100_000)
    .optional()
    .describe('A single prompt as it was sent: its exact key, whitespace aside.'),
  messages: z
    .array(
      z
        .object({
          role: z.enum(['system', 'user', 'assistant']),
          content: z.string().min(1).max(100_000),
        })
        .strict(),
    )
    .min(1)
    .max(100)
    .optional()
    .describe('A chat as it was sent: its exact key.'),
  key: z
    .string()
    .min(1)
    .max(10_000)
    .optional()
    .describe('A cache key as stored: an exact key (64 hex digits) or a template key.'),
  namespace: z
    .string()
    .regex(/^[0-9a-f]{24}$/, 'must be a namespace id: 24 hex digits')
    .optional()
    .describe('One namespace, whole (or only the keys given).'),
  scope: z
    .string()
    .min(1)
    .max(100)
    .optional()
    .describe("Only this cache scope: an API key's cache scope, or the key's id."),
};

/** What to tell a caller who named nothing to purge. */
export const NO_SELECTOR = `say what to purge: one or more of ${purgeSelectors.join(', ')} (scope only narrows them)`;

/** True when at least one field other than `scope` says what to purge. */
export const hasSelector = (value: Partial<Record<(typeof purgeSelectors)[number], unknown>>) =>
  purgeSelectors.some((field) => value[field] !== undefined);

/**
 * What a cache purge removes. `taskType`, `template`, `scope` and `namespace` choose namespaces
 * (the first three through the namespace registry; every one given must hold); `prompt`,
 * `messages` and `key` name cache keys (any of them). Given both kinds, only the named keys in
 * the chosen namespaces go. At least one field other than `scope` is required, so an empty
 * request never empties the whole cache.
 */
export const cachePurgeSelectorSchema = z
  .object(cachePurgeSelectorFields)
  .strict()
  .refine(hasSelector, { message: NO_SELECTOR });

export type CachePurgeSelector = z.output<typeof cachePurgeSelectorSchema>;

/** `text` read as a JSON chat (`[{"role":"user","content":"…"}]`), if it is one. */
export function messagesIn(text: string): CachePurgeSelector['messages'] {
  if (!text.trimStart().startsWith('[')) return undefined;
  try {
    const parsed = cachePurgeSelectorSchema.safeParse({ messages: JSON.parse(text) });
    return parsed.success ? parsed.data.messages : undefined;
  } catch {
    return undefined;
  }
}
