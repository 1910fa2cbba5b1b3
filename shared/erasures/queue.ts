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
  schema: z
    .object({
      erasureId: z.uuid(),
      applyNow: z
        .boolean()
        .optional()
        .describe(
          'Once the hot side is done, run apply-erasures at once instead of at ERASE_CRON.',
        ),
    })
    .strict(),
  // Waiting out an export in progress costs no attempt (see the job's `waitsOut`).
  options: { attempts: 5, backoffMs: 30_000, timeoutMs: 15 * 60_000, concurrency: 2 },
});

/**
 * The random part of an erasure run's job id: the erasure id (and the number of its devices),
 * so asking twice enqueues one job, and widening its devices one more.
 */
export const eraseJobToken = (erasureId: string, deviceCount: number, applyNow = false) =>
  `${erasureId.replaceAll('-', '')}${deviceCount > 0 ? `-${deviceCount}` : ''}${applyNow ? '-now' : ''}`;

/**
 * The `apply-erasures` queue's contract: scheduled by `ERASE_CRON`, and enqueued at once by
 * `lowburn users erase --apply-now` (through the `erase-user` job, once the hot side is done).
 */
export const applyErasuresQueue = defineQueue({
  queue: 'apply-erasures',
  description:
    'Rewrite the cold Parquet files holding erased users (all pending erasures at once), verify, replace the manifests, then delete the old files; remove and rebuild the fine-tune sets that hold them.',
  schema: z.object({}).strict(),
  // One at a time; the cold store's write lock also keeps it apart from export-cold (a busy
  // lock is an ordinary error: retried after the backoff).
  options: { attempts: 6, backoffMs: 10 * 60_000, timeoutMs: 4 * 60 * 60_000, concurrency: 1 },
});
