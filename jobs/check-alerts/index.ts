import { z } from 'zod';
import { checkAlerts } from '../../shared/alerts/check-alerts.ts';
import { alertConditions } from '../../shared/alerts/conditions/index.ts';
import { defineJob } from '../../shared/queue/job-definition.ts';
import { alertMetrics } from './metrics.ts';

/**
 * Evaluates the alert conditions (shared/alerts/conditions) every `ALERT_CRON` (each minute by
 * default): an alert fires at most once per condition per UTC day and resolves when its
 * condition stops, as a log line and, with `ALERT_WEBHOOK_URL`, a signed `alert.triggered` /
 * `alert.resolved` event. The state lives in the `alerts` table, so two workers or a restart
 * change nothing.
 */
export const checkAlertsJob = defineJob({
  queue: 'check-alerts',
  description:
    'Evaluate the alert conditions (CPAU, fallback share, cache hit rates, dead letters, nightly jobs, queue lag, telemetry buffer); fire or resolve each at most once per day, logged and sent to ALERT_WEBHOOK_URL.',
  schema: z.object({}).strict(),
  // A check is cheap and the next one is a minute away: one retry, and never two at once here.
  options: { attempts: 2, backoffMs: 5_000, timeoutMs: 50_000, concurrency: 1 },
  schedule: (config) => ({ cron: config.alerts.cron }),
  async process(_payload, { deps, log }) {
    alertMetrics(
      deps.metrics,
      deps.db,
      alertConditions.map((c) => c.id),
    );
    const context = {
      db: deps.db,
      redis: deps.redis,
      config: deps.config,
      queueNames: deps.queueNames,
      // The clock, not the job's time: lag and missed runs are about now.
      now: new Date(),
    };
    return checkAlerts({ ...deps, log }, context, alertConditions);
  },
});
