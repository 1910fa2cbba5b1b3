import { defineQueue } from '../../shared/queue/job-definition.ts';
import { generatePayloadSchema } from './schema.ts';

/**
 * The `generate` queue's contract: what the API enqueues against. Kept apart from the
 * processor so the API (a serverless function) never loads model clients.
 */
export const generateQueue = defineQueue({
  queue: 'generate',
  description: 'LLM generation: caches, then the local model, then the paid fallback.',
  schema: generatePayloadSchema,
  options: { attempts: 3, backoffMs: 2_000, timeoutMs: 120_000, concurrency: 20 },
});
