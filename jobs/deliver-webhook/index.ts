import { UnrecoverableError } from 'bullmq';
import type { Logger } from '../../shared/log/logger.ts';
import { defineJob } from '../../shared/queue/job-definition.ts';
import { type AttemptResult, attemptDelivery } from '../../shared/webhooks/attempt.ts';
import { endpointSlots, handBackSlot } from '../../shared/webhooks/dispatch.ts';
import { deliverWebhookQueue } from '../../shared/webhooks/queue.ts';
import { type WebhookMetrics, webhookMetrics } from './metrics.ts';

/**
 * Delivers one attempt of a webhook: one job per attempt, holding one of its endpoint's
 * `WEBHOOK_ENDPOINT_CONCURRENCY` slots from its enqueue to its end.
 *
 * The ledger, not the job, is the truth. After the attempt is recorded the job gives its slot
 * back and, if deliveries were turned away from the endpoint, queues its next due ones
 * (`handBackSlot`: first attempts before retries), then ends. A retry does not sleep in BullMQ: it waits in Postgres with its `next_attempt_at`,
 * and `dispatch-webhooks` queues it when it is due and the endpoint has a slot, so a dead
 * endpoint's backlog costs Redis at most its slots. BullMQ's own attempts and backoff are kept for
 * failures that are not the receiver's (Postgres or Redis down): the slot is kept meanwhile, and
 * its lease lapses on its own if the job never comes back.
 *
 * A job whose lease lapsed while it waited, and whose endpoint's slots are all taken by now,
 * sends nothing and ends `parked`: the delivery is still pending and due in Postgres.
 *
 * A delivery that ends without success (dead after the schedule, a permanent error, a 410, an
 * endpoint disabled after `WEBHOOK_DISABLE_AFTER`) fails the job as unrecoverable once the ledger
 * has it, so it shows on the board.
 *
 * Delivery is its own job, so a failing receiver never re-runs a generation.
 */
export const deliverWebhookJob = defineJob({
  ...deliverWebhookQueue,
  async process(payload, { deps, signal, log }) {
    const { deliveryId, run, attempt, apiKeyId } = payload;
    const metrics = webhookMetrics(deps.metrics);
    // Jobs queued before endpoint slots existed carry no endpoint: they run without one.
    const endpoint = apiKeyId && payload.endpoint ? { apiKeyId, endpoint: payload.endpoint } : null;
    if (endpoint && (await endpointSlots(deps).acquire(endpoint, [deliveryId])).length === 0) {
      return { outcome: 'parked' };
    }
    const result = await attemptDelivery(
      {
        db: deps.db,
        client: deps.webhookClient,
        config: deps.config.webhooks,
        keyring: deps.secrets,
      },
      // A job queued before jobs carried their attempt was a first attempt, or a retry sleeping
      // in the delayed set; retries now wait in Postgres, where the dispatcher queues them, so
      // such a job finding attempts made is stale rather than a second sender of the retry.
      { deliveryId, run, attempt: attempt ?? 0, signal },
    );
    observe(metrics, result);
    if ('verdict' in result && result.verdict.reason.startsWith('secret_')) {
      // An operator must act (set SECRETS_KEY_PREVIOUS, or restore the row): say so loudly.
      // The message names key ids and the API key, never a secret.
      log.error({ deliveryId, reason: result.verdict.reason }, result.error ?? 'webhook not sent');
    }
    if ('disabledEndpoint' in result && result.disabledEndpoint) {
      reportDisabled(log, metrics, result.disabledEndpoint);
    }
    if (endpoint) await handBackSlot(deps, endpoint, deliveryId);
    if (result.outcome === 'failed' || result.outcome === 'disabled' || result.outcome === 'dead') {
      // Recorded in the ledger already; failing the job (not retried) shows it on the board.
      throw new UnrecoverableError(describeEnd(deliveryId, result));
    }
    return summary(result);
  },
});

function reportDisabled(
  log: Logger,
  metrics: WebhookMetrics,
  disabled: NonNullable<Extract<AttemptResult, { attempted: true }>['disabledEndpoint']>,
): void {
  metrics.endpointsDisabled.inc();
  log.warn(
    {
      apiKeyId: disabled.apiKeyId,
      endpoint: disabled.endpoint,
      url: disabled.url,
      failingSince: disabled.failingSince,
      ended: disabled.ended,
    },
    `webhook endpoint ${disabled.endpoint} disabled for API key ${disabled.apiKeyId} (url ${disabled.url}): every attempt failed since ${disabled.failingSince.toISOString()}; ${disabled.ended} pending deliveries ended disabled; replay one to re-enable it`,
  );
}

function observe(metrics: WebhookMetrics, result: AttemptResult): void {
  if (!('attempted' in result)) return;
  if (!result.attempted) {
    metrics.abandoned.inc({ status: result.outcome });
    return;
  }
  metrics.attempts.inc();
  metrics.attemptDuration.observe(result.durationMs / 1000);
  if (result.outcome === 'succeeded') {
    metrics.successes.inc();
    metrics.latency.observe(result.latencyMs / 1000);
    return;
  }
  metrics.failures.inc({ reason: result.verdict.reason });
  if (result.outcome === 'dead') metrics.deadLetters.inc();
  if (result.outcome === 'failed' || result.outcome === 'disabled') {
    metrics.abandoned.inc({ status: result.outcome });
  }
}

/** Why a delivery ended without success, and how to send it again. */
function describeEnd(deliveryId: string, result: AttemptResult): string {
  const why =
    'attempted' in result && result.attempted
      ? `after attempt ${result.attempt}: ${result.verdict.reason}${result.statusCode === null ? '' : ` (HTTP ${result.statusCode})`}`
      : 'without an attempt (URL disabled by a 410, endpoint disabled, or the API key deleted)';
  return `webhook ${deliveryId} ${result.outcome} ${why}; see lowburn webhooks list, replay with lowburn webhooks replay ${deliveryId}`;
}

/** The job's return value, as the board shows it. */
function summary(result: AttemptResult) {
  if (!('attempted' in result) || !result.attempted) return { outcome: result.outcome };
  return {
    outcome: result.outcome,
    attempt: result.attempt,
    statusCode: result.statusCode,
    reason: result.verdict.reason,
  };
}
