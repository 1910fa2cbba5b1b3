import { DelayedError, UnrecoverableError } from 'bullmq';
import { defineJob } from '../../shared/queue/job-definition.ts';
import { type AttemptResult, attemptDelivery } from '../../shared/webhooks/attempt.ts';
import { deliverWebhookQueue } from '../../shared/webhooks/queue.ts';
import { type WebhookMetrics, webhookMetrics } from './metrics.ts';

/**
 * Delivers one webhook: one job per delivery run, whatever the number of attempts.
 *
 * Retries: after a failed attempt the job moves itself to BullMQ's delayed set until the time
 * the schedule (or the receiver's `Retry-After`) calls for, and throws `DelayedError`: the same
 * job sleeps in Redis, holding no worker slot, and does not spend a BullMQ attempt. BullMQ's own
 * attempts and backoff are kept for failures that are not the receiver's (Postgres or Redis
 * down), so an outage cannot eat a delivery's schedule. A custom backoff strategy would have
 * mixed the two budgets and is a per-worker setting (the runtime builds every worker alike); a
 * new job per attempt would put one board entry per retry. The ledger, not the job, is the truth:
 * `next_attempt_at` is recorded before the move, so a job woken early (a crash between the two)
 * goes back to sleep instead of sending early.
 *
 * A delivery that ends without success (dead after the schedule, a permanent error, a 410)
 * fails the job as unrecoverable once the ledger has it, so it shows on the board.
 *
 * Delivery is its own job, so a failing receiver never re-runs a generation.
 */
export const deliverWebhookJob = defineJob({
  ...deliverWebhookQueue,
  async process({ deliveryId, run }, { job, deps, signal, log }) {
    const metrics = webhookMetrics(deps.metrics);
    const result = await attemptDelivery(
      {
        db: deps.db,
        client: deps.webhookClient,
        config: deps.config.webhooks,
        keyring: deps.secrets,
      },
      { deliveryId, run, signal },
    );
    observe(metrics, result);
    if ('verdict' in result && result.verdict.reason.startsWith('secret_')) {
      // An operator must act (set SECRETS_KEY_PREVIOUS, or restore the row): say so loudly.
      // The message names key ids and the API key, never a secret.
      log.error({ deliveryId, reason: result.verdict.reason }, result.error ?? 'webhook not sent');
    }
    if (result.outcome === 'retry' || result.outcome === 'not-due') {
      const at = result.nextAttemptAt ?? new Date();
      await job.moveToDelayed(at.getTime(), job.token);
      throw new DelayedError();
    }
    if (result.outcome === 'failed' || result.outcome === 'disabled' || result.outcome === 'dead') {
      // Recorded in the ledger already; failing the job (not retried) shows it on the board.
      throw new UnrecoverableError(describeEnd(deliveryId, result));
    }
    return summary(result);
  },
});

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
      : 'without an attempt (URL disabled by a 410, or the API key deleted)';
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
