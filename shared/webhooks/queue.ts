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
    })
    .strict(),
  // The delivery's own retries (schedule, Retry-After) move this job to `delayed` and do not use
  // BullMQ attempts; these attempts cover what is not the receiver's fault (Postgres or Redis
  // down), so a database outage of up to ~40 minutes delays deliveries instead of losing them.
  // 50 at a time: an attempt mostly waits on the receiver.
  options: { attempts: 10, backoffMs: 5_000, timeoutMs: 60_000, concurrency: 50 },
});

export type DeliverWebhookPayload = z.output<typeof deliverWebhookQueue.schema>;

/**
 * The BullMQ job id of a run: the delivery id for the first, `<id>.r<run>` for a replay. Adding a
 * run twice (a retried generation, a double-clicked replay) is a no-op while the job is kept.
 */
export function deliveryJobId(deliveryId: string, run: number): string {
  return run === 0 ? deliveryId : `${deliveryId}.r${run}`;
}

/** Adds a job by its contract: `JobDeps.enqueue`, or `Queues.add` bound to its instance. */
export type Enqueue = <D extends QueueContract>(
  definition: D,
  payload: z.input<D['schema']>,
  options?: JobsOptions,
) => Promise<Job>;

/** Queues one run of a delivery. */
export function enqueueDeliveryRun(
  enqueue: Enqueue,
  deliveryId: string,
  run: number,
): Promise<Job> {
  return enqueue(
    deliverWebhookQueue,
    { deliveryId, run },
    { jobId: deliveryJobId(deliveryId, run) },
  );
}
