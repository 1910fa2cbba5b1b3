import { defineQueue } from '../../shared/queue/job-definition.ts';
import { generatePayloadSchema } from './schema.ts';

/**
 * The `generate` queue's contract. The API enqueues against it today; the processor (caches,
 * local model, paid fallback) completes it into a job definition in the generation issue.
 */
export const generateQueue = defineQueue({
  queue: 'generate',
  description: 'LLM generation: caches, then the local model, then the paid fallback.',
  schema: generatePayloadSchema,
  options: { attempts: 3, backoffMs: 2_000, timeoutMs: 120_000, concurrency: 20 },
});
