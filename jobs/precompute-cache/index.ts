import { z } from 'zod';
import { defineJob } from '../../shared/queue/job-definition.ts';
import { runPrecompute } from './precompute.ts';

/**
 * The 3 AM precompute: answers tomorrow's most frequent prompts before anyone asks, so the
 * morning's first askers hit the `precomputed` layer. See `precompute.ts` for the run and
 * `candidates.ts` for the ranking.
 */
export const precomputeCacheJob = defineJob({
  queue: 'precompute-cache',
  description:
    "Answer the window's most asked cache keys ahead of demand into the precomputed layer, local model first, at a priority below live requests.",
  schema: z.object({}).strict(),
  // One run at a time; its answers are generate jobs, which every generate worker shares.
  // The timeout is past the longest PRECOMPUTE_BUDGET_TIME allowed (12 h) plus its tail.
  options: { attempts: 3, backoffMs: 60_000, timeoutMs: 13 * 60 * 60_000, concurrency: 1 },
  schedule: (config) => ({ cron: config.precompute.cron }),
  process: async (_payload, ctx) => runPrecompute(ctx),
});
