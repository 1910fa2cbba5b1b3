import { z } from 'zod';
import { erasureRequestBodySchema } from '../shared/erasures/request-schema.ts';
import {
  cachePurgeSelectorFields,
  hasSelector,
  NO_SELECTOR,
} from '../shared/inference/cache-purge-selector.ts';
import { deliveryStatuses } from '../shared/webhooks/delivery-statuses.ts';

/**
 * The HTTP contract of the thin API: every body it returns. The routes validate with these,
 * the OpenAPI document is generated from them, and the client's types are inferred from them.
 */

export const errorCodes = [
  'invalid_json',
  'invalid_request',
  'payload_too_large',
  'unauthorized',
  'forbidden',
  'not_found',
  'idempotency_conflict',
  'rate_limited',
  'budget_exceeded',
  'unavailable',
  'internal',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

export const errorBodySchema = z.object({
  error: z.object({
    code: z.enum(errorCodes),
    message: z.string().describe('What went wrong and what to change.'),
    field: z.string().optional().describe('Dotted path of the offending field, when there is one.'),
    details: z
      .array(
        z.object({ index: z.number().int().optional(), field: z.string(), message: z.string() }),
      )
      .optional()
      .describe('Every problem, for requests that carry many items (a telemetry batch).'),
  }),
});

export const telemetryAcceptedSchema = z.object({
  accepted: z.number().int().describe('Pings buffered; they reach Postgres within a flush period.'),
});

export const jobStates = ['queued', 'active', 'retrying', 'completed', 'failed'] as const;

export const acceptedSchema = z.object({
  id: z.string().describe('The job id; poll it at statusUrl.'),
  status: z.literal('queued'),
  statusUrl: z.string(),
});

export const jobStatusSchema = z.object({
  id: z.string(),
  queue: z.string(),
  status: z.enum(jobStates),
  progress: z.union([z.number(), z.record(z.string(), z.unknown()), z.string(), z.boolean()]),
  result: z.unknown().nullable(),
  error: z.string().nullable(),
  lastError: z
    .string()
    .nullable()
    .optional()
    .describe(
      "A queued or retrying job's last failed attempt or outage, while it waits to run again.",
    ),
  retry: z
    .object({
      attemptsMade: z.number().int().describe('Attempts that failed so far.'),
      attempts: z.number().int().describe('Attempts it has in all.'),
      nextAttemptAt: z.iso.datetime().nullable().describe('When the next attempt starts.'),
    })
    .optional()
    .describe('Set while `status` is `retrying`: a failed attempt, waiting for its next one.'),
  waiting: z
    .object({
      reason: z
        .string()
        .describe('`store_unreachable` (Postgres or Redis) or `model_unreachable`.'),
      since: z.iso.datetime(),
      retryAt: z.iso.datetime(),
      until: z.iso
        .datetime()
        .nullable()
        .describe('When it stops waiting and fails as usual; null: after about an hour.'),
    })
    .nullable()
    .optional()
    .describe('Set while the job waits out an outage without spending its attempts.'),
  createdAt: z.iso.datetime(),
  finishedAt: z.iso.datetime().nullable(),
});

export const pipelineRunRequestSchema = z
  .object({ payload: z.record(z.string(), z.unknown()).optional() })
  .strict();

/** `POST /v1/webhooks/:id/replay`'s answer. */
export const webhookReplaySchema = z.object({
  id: z.string().describe('The delivery id, sent again as `webhook-id`.'),
  status: z.literal('pending'),
  run: z.number().int().describe('The new run of the delivery (0 was the first).'),
  previousStatus: z.enum(deliveryStatuses),
});

/** `DELETE /v1/cache`'s body: what to purge, and whether only to count it. */
export const cachePurgeRequestSchema = z
  .object({
    ...cachePurgeSelectorFields,
    dryRun: z.boolean().optional().describe('Count what would be removed; remove nothing.'),
  })
  .strict()
  .refine(hasSelector, { message: NO_SELECTOR })
  .describe(
    'At least one of taskType, template, prompt, messages, key, namespace. taskType, template, scope and namespace choose namespaces (all given must hold); prompt, messages and key name cache keys (any of them).',
  );

const count = z.number().int().min(0);

/** `DELETE /v1/cache`'s answer. */
export const cachePurgeResultSchema = z.object({
  dryRun: z.boolean(),
  removed: z
    .object({ precomputed: count, exact: count, template: count, semantic: count })
    .describe('Answers removed per cache layer (on a dry run: that would be removed).'),
  vectors: count.describe(
    "Semantic index entries removed from Redis and from every worker's memory.",
  ),
  namespaces: count.describe('How many namespaces they were in.'),
});

/** `DELETE /v1/users/:userId`'s body (optional): devices whose telemetry goes too. */
export const erasureRequestSchema = erasureRequestBodySchema;

/** `DELETE /v1/users/:userId`'s answer: the erasure recorded (or the user's open one). */
export const erasureAcceptedSchema = z.object({
  id: z.string().describe('The erasure id: `lowburn users erase --verify <id>` checks it.'),
  status: z
    .enum(['pending', 'hot-done', 'done'])
    .describe('pending: queued; hot-done: hot data and caches gone, cold files wait; done.'),
  created: z.boolean().describe('false when the user already had an open erasure: this is it.'),
  jobId: z.string().describe('The erase-user job: `GET /v1/jobs/:jobId` shows its progress.'),
  statusUrl: z.string(),
});

export type ErrorBody = z.infer<typeof errorBodySchema>;
export type Accepted = z.infer<typeof acceptedSchema>;
export type TelemetryAccepted = z.infer<typeof telemetryAcceptedSchema>;
export type JobStatus = z.infer<typeof jobStatusSchema>;
export type JobState = (typeof jobStates)[number];
export type PipelineRunRequest = z.input<typeof pipelineRunRequestSchema>;
export type WebhookReplay = z.infer<typeof webhookReplaySchema>;
export type CachePurgeRequest = z.input<typeof cachePurgeRequestSchema>;
export type CachePurgeResultBody = z.infer<typeof cachePurgeResultSchema>;
export type ErasureRequest = z.input<typeof erasureRequestSchema>;
export type ErasureAccepted = z.infer<typeof erasureAcceptedSchema>;
