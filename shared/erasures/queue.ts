import { z } from 'zod';
import { defineQueue } from '../queue/job-definition.ts';

/**
 * The `erase-user` queue's contract: the API and the CLI enqueue against it after recording
 * the erasure; the job (`jobs/erase-user`) does the "at once" part.
 */
export const eraseUserQueue = defineQueue({
  queue: 'erase-user',
  description:
    "Erase a user's hot data at once: their rows in every hot table, webhook payloads, idempotency records, cache entries on every worker; fold their usage into the anonymous aggregate.",
  schema: z.object({ erasureId: z.uuid() }).strict(),
  // Waiting out an export in progress costs no attempt (see the job's `waitsOut`).
  options: { attempts: 5, backoffMs: 30_000, timeoutMs: 15 * 60_000, concurrency: 2 },
});

/**
 * The random part of an erasure run's job id: the erasure id (and the number of its devices),
 * so asking twice enqueues one job, and widening its devices one more.
 */
export const eraseJobToken = (erasureId: string, deviceCount: number) =>
  `${erasureId.replaceAll('-', '')}${deviceCount > 0 ? `-${deviceCount}` : ''}`;
