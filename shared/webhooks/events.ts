import { createHash } from 'node:crypto';
import { toStorableJson } from '../json/storable-text.ts';

/** The events lowburn sends. */
export const webhookEventTypes = ['generation.completed', 'generation.failed'] as const;
export type WebhookEventType = (typeof webhookEventTypes)[number];
/** The events sent to the operator (`ALERT_WEBHOOK_URL`; shared/alerts), not to API keys' URLs. */
export const operatorEventTypes = ['alert.triggered', 'alert.resolved', 'digest.daily'] as const;
export type OperatorEventType = (typeof operatorEventTypes)[number];

/** What the generation pipeline knows when a job ends; becomes the event's `data`. */
export interface WebhookEventInput {
  type: WebhookEventType;
  /** The generation's answer (`generation.completed`). */
  result?: unknown;
  /** Why it failed (`generation.failed`): a message, or a code and a message. */
  error?: string | { code?: string | undefined; message: string } | undefined;
  /** The caller's metadata from the request, returned untouched. */
  metadata?: Record<string, unknown> | null | undefined;
  /** When the job was accepted. */
  createdAt?: Date | string | undefined;
  /** When the job ended; also the event's `timestamp`. @defaultValue now */
  finishedAt?: Date | string | undefined;
}

/**
 * The JSON body every attempt sends, in the Standard Webhooks shape `{ type, timestamp, data }`.
 * It is built once, when the delivery is created, so retries and replays send the same event.
 */
export interface WebhookEvent {
  type: WebhookEventType;
  /** When the event happened (the job ended), ISO 8601. */
  timestamp: string;
  data: {
    jobId: string;
    status: 'completed' | 'failed';
    result: unknown;
    error: { code?: string; message: string } | null;
    metadata: Record<string, unknown> | null;
    createdAt: string | null;
    finishedAt: string;
  };
}

const iso = (value: Date | string) => new Date(value).toISOString();

/** The event for `jobId`, as its receiver will see it. */
export function buildWebhookEvent(
  jobId: string,
  input: WebhookEventInput,
  now: Date = new Date(),
): WebhookEvent {
  const finishedAt = iso(input.finishedAt ?? now);
  const error =
    input.error === undefined
      ? null
      : typeof input.error === 'string'
        ? { message: input.error }
        : {
            ...(input.error.code === undefined ? {} : { code: input.error.code }),
            message: input.error.message,
          };
  return {
    type: input.type,
    timestamp: finishedAt,
    data: {
      jobId,
      status: input.type === 'generation.completed' ? 'completed' : 'failed',
      result: input.result ?? null,
      error,
      metadata: input.metadata ?? null,
      createdAt: input.createdAt === undefined ? null : iso(input.createdAt),
      finishedAt,
    },
  };
}

/**
 * The delivery id (the Standard Webhooks `webhook-id`) of one event: derived from the key, the
 * job and the event type, so a generation retried after it enqueued its webhook (at-least-once)
 * finds the same delivery instead of creating a second one. 128 bits of SHA-256, hex.
 */
export function webhookIdFor(
  apiKeyId: string,
  jobId: string,
  type: WebhookEventType | OperatorEventType,
): string {
  const digest = createHash('sha256').update(`${apiKeyId}\n${jobId}\n${type}`).digest('hex');
  return `msg_${digest.slice(0, 32)}`;
}

/**
 * The event as JSON Postgres can store: `jsonb` refuses NUL characters and unpaired surrogates
 * in strings and keys, so they become U+FFFD — a caller's odd metadata must not make a delivery (or a
 * batch of them) impossible to record.
 */
export function serializeEvent(event: WebhookEvent): string {
  return toStorableJson(event);
}
