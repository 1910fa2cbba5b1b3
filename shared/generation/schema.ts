import { z } from 'zod';

/** Task types the router knows how to route; each has its own cache namespace and thresholds. */
export const taskTypes = [
  'summary',
  'classification',
  'formatting',
  'extraction',
  'translation',
  'qa',
  'diagnosis',
  'generation',
] as const;

export const chatMessageSchema = z
  .object({
    role: z.enum(['system', 'user', 'assistant']),
    content: z.string().min(1).max(100_000),
  })
  .strict();

const scalar = z.union([z.string().max(10_000), z.number(), z.boolean(), z.null()]);

/** The fields a caller sends; the API validates exactly this. */
const requestFields = {
  userId: z
    .string()
    .min(1)
    .max(200)
    .describe('Your end user, for per-user rate limits and cost per active user.'),
  taskType: z.enum(taskTypes).describe('What kind of work this is; decides routing and caching.'),
  prompt: z.string().min(1).max(100_000).optional().describe('A single prompt.'),
  messages: z.array(chatMessageSchema).min(1).max(100).optional().describe('A chat, oldest first.'),
  template: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]{0,99}$/, 'must be a template id like product-title')
    .optional()
    .describe('A registered template id; send its inputs as params.'),
  params: z.record(z.string().max(100), scalar).optional().describe("The template's inputs."),
  responseFormat: z
    .record(z.string(), z.unknown())
    .optional()
    .describe('A JSON Schema the answer must satisfy; the answer is then JSON.'),
  webhookUrl: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .max(2_048)
    .optional()
    .describe('Receives a signed generation.completed or generation.failed event.'),
  metadata: z
    .record(z.string().max(100), z.unknown())
    .optional()
    .describe('Returned untouched in the result and the webhook.'),
  cache: z
    .enum(['shared', 'user', 'off'])
    .optional()
    .describe(
      "How caches serve this request: `shared` (default) with every request of this API key's cache scope; `user` only with this userId's own requests (prompts holding one user's data); `off` neither reads nor writes a cache.",
    ),
};

type RequestShape = z.infer<z.ZodObject<typeof requestFields>>;

/** Exactly one way to say what to generate; params only with a template. */
function oneInput(value: RequestShape, ctx: z.RefinementCtx) {
  const given = (['prompt', 'messages', 'template'] as const).filter((k) => value[k] !== undefined);
  if (given.length !== 1) {
    ctx.addIssue({
      code: 'custom',
      path: given.length === 0 ? ['prompt'] : [given[1] ?? 'prompt'],
      message:
        given.length === 0
          ? 'send one of prompt, messages, or template + params'
          : `send only one of prompt, messages, template (got ${given.join(' and ')})`,
    });
  }
  if (value.params !== undefined && value.template === undefined) {
    ctx.addIssue({ code: 'custom', path: ['params'], message: 'params go with a template' });
  }
}

/** `POST /v1/generations` body. */
export const generateRequestSchema = z.object(requestFields).strict().superRefine(oneInput);

/** The `generate` job's payload: the request plus what the API knows about the caller. */
export const generatePayloadSchema = z
  .object({
    ...requestFields,
    apiKeyId: z.uuid().describe('The API key that asked; its webhook secret signs the event.'),
    // Optional: jobs queued before cache scopes existed have none (their key's id stands in).
    cacheScope: z.string().max(100).optional().describe("The key's cache scope."),
    // Optional: set by the API only when a daily budget applies to the request's user.
    budget: z
      .object({
        softUsd: z.number().nonnegative().optional(),
        hardUsd: z.number().nonnegative().optional(),
        localOnly: z.boolean(),
      })
      .strict()
      .optional()
      .describe(
        "The user's daily budgets in USD when the API took the request, and whether they were already past the soft one (then the frontier model is never asked).",
      ),
    /** Set only by the nightly precompute (the API's request schema has no such field). */
    precompute: z
      .object({ run: z.string().min(1).max(200), allowFrontier: z.boolean() })
      .strict()
      .optional()
      .describe(
        'Answer ahead of demand into the precomputed layer: no cache read, no row, no webhook.',
      ),
  })
  .strict()
  .superRefine(oneInput);

export type GenerateRequest = z.input<typeof generateRequestSchema>;
export type GeneratePayload = z.output<typeof generatePayloadSchema>;
