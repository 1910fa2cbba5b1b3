import { Counter, Histogram, type Registry } from 'prom-client';
import { oncePerRegistry } from '../../shared/metrics/registry.ts';

export interface WebhookMetrics {
  attempts: Counter;
  successes: Counter;
  /** Failed attempts, by reason (`http_5xx`, `http_429`, `timeout`, `blocked` …). */
  failures: Counter<'reason'>;
  deadLetters: Counter;
  /** Deliveries given up without being dead: 410 (or a URL disabled by one), permanent errors. */
  abandoned: Counter<'status'>;
  /** One attempt's HTTP exchange. */
  attemptDuration: Histogram;
  /** From the event's creation to the receiver's 2xx, retries included. */
  latency: Histogram;
  /** Endpoints disabled for failing every attempt for `WEBHOOK_DISABLE_AFTER`. */
  endpointsDisabled: Counter;
}

/** The webhook delivery metrics, registered once on the process's `/metrics` registry. */
export const webhookMetrics = oncePerRegistry((registry: Registry): WebhookMetrics => {
  const registers = [registry];
  const metrics: WebhookMetrics = {
    attempts: new Counter({
      name: 'lowburn_webhook_attempts_total',
      help: 'Webhook attempts sent (or refused at connect time).',
      registers,
    }),
    successes: new Counter({
      name: 'lowburn_webhook_successes_total',
      help: 'Webhook deliveries a receiver acknowledged with a 2xx.',
      registers,
    }),
    failures: new Counter({
      name: 'lowburn_webhook_failures_total',
      help: 'Webhook attempts that failed, by reason.',
      labelNames: ['reason'],
      registers,
    }),
    deadLetters: new Counter({
      name: 'lowburn_webhook_dead_letters_total',
      help: 'Webhook deliveries that used up their retry schedule (status dead; replayable).',
      registers,
    }),
    abandoned: new Counter({
      name: 'lowburn_webhook_abandoned_total',
      help: 'Webhook deliveries ended without success or dead letter: failed (permanent) or disabled (410).',
      labelNames: ['status'],
      registers,
    }),
    attemptDuration: new Histogram({
      name: 'lowburn_webhook_attempt_seconds',
      help: "Duration of one webhook attempt's HTTP exchange.",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30],
      registers,
    }),
    latency: new Histogram({
      name: 'lowburn_webhook_delivery_latency_seconds',
      help: 'From the event to its successful delivery, retries included.',
      buckets: [0.05, 0.1, 0.5, 1, 5, 30, 300, 1_800, 7_200, 36_000, 86_400, 172_800],
      registers,
    }),
    endpointsDisabled: new Counter({
      name: 'lowburn_webhook_endpoints_disabled_total',
      help: 'Webhook endpoints (API key and URL origin) disabled after failing every attempt for WEBHOOK_DISABLE_AFTER.',
      registers,
    }),
  };
  return metrics;
});
