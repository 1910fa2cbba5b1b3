import type { Job, JobsOptions } from 'bullmq';
import { z } from 'zod';
import { defineQueue, type QueueContract } from '../queue/job-definition.ts';

/** A delivery id as lowburn makes them (`webhookIdFor`): `msg_` and 32 hex digits. */
export const DELIVERY_ID = /^msg_[0-9a-f]{32}$/;

/**
 * The `deliver-webhook` queue's contract. It lives here rather than in the job's folder so that
 * `enqueueWebhook` (shared, called by the generation job and by replays) can enqueue by it;
 * `jobs/deliver-webhook` completes it with the processor.
 */
export const deliverWebhookQueue = defineQueue({
  queue: 'deliver-webhook',
  description:
    'Standard Webhooks signed POST to a caller-chosen URL: SSRF-safe, retried on a schedule, dead-lettered, replayable.',
  schema: z
    .object({
      /** The `webhook_deliveries` row, whose id is the `webhook-id`. */
      deliveryId: z.string().regex(DELIVERY_ID, 'must be a delivery id like msg_0123…'),
      /** The run (0, then + 1 per replay) this job belongs to; a job of an older run is stale. */
      run: z.number().int().min(0),
      // Optional: jobs queued before endpoint slots existed carry none of the three below.
      /** The run's attempts before this one (`run_attempts`): once recorded, the job is stale. */
      attempt: z.number().int().min(0).optional(),
      /** The delivery's endpoint (key and URL origin), whose slot this job holds and gives back. */
      apiKeyId: z.uuid().optional(),
      endpoint: z.string().min(1).max(2_048).optional(),
    })
    .strict(),
  // One job per attempt: the delivery's own retries (schedule, Retry-After) wait in Postgres, not
  // in BullMQ, and do not use BullMQ attempts; these attempts cover what is not the receiver's
  // fault (Postgres or Redis down), so a database outage of up to ~40 minutes delays deliveries
  // instead of losing them.
  // 50 at a time: an attempt mostly waits on the receiver.
  options: { attempts: 10, backoffMs: 5_000, timeoutMs: 60_000, concurrency: 50 },
});

export type DeliverWebhookPayload = z.output<typeof deliverWebhookQueue.schema>;

/**
 * The BullMQ job id of an attempt: the delivery id for the first attempt of the first run,
 * `<id>.r<run>` for a replay's, then `.a<n>` for the run's attempt n + 1. Adding an attempt twice
 * (a retried generation, two dispatchers) is a no-op while the job is kept, and a job that
 * outlives it finds its attempt recorded and sends nothing.
 */
export function deliveryJobId(deliveryId: string, run: number, attempt = 0): string {
  const base = run === 0 ? deliveryId : `${deliveryId}.r${run}`;
  return attempt === 0 ? base : `${base}.a${attempt}`;
}

/** Adds a job by its contract: `JobDeps.enqueue`, or `Queues.add` bound to its instance. */
export type Enqueue = <D extends QueueContract>(
  definition: D,
  payload: z.input<D['schema']>,
  options?: JobsOptions,
) => Promise<Job>;

/** A pending delivery's next attempt, as a job needs it. */
export interface DueAttempt {
  deliveryId: string;
  run: number;
  /** `run_attempts`: the attempts of the run so far. */
  attempt: number;
  apiKeyId: string;
  endpoint: string;
}

/** Queues the next attempt of a delivery (whose endpoint slot the caller holds). */
export function enqueueAttempt(enqueue: Enqueue, due: DueAttempt): Promise<Job> {
  return enqueue(deliverWebhookQueue, due, {
    jobId: deliveryJobId(due.deliveryId, due.run, due.attempt),
  });
}
