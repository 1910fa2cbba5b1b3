import { z } from 'zod';
import { sendDigest } from '../../shared/alerts/digest.ts';
import { utcDay } from '../../shared/db/partitions.ts';
import { defineJob } from '../../shared/queue/job-definition.ts';

/**
 * The morning digest at `DIGEST_CRON` (08:00 in `SCHEDULE_TZ`): the last complete UTC day's
 * CPAU, cost split, active users, hit rates, fallback share and alerts, as an info log line
 * and, with `ALERT_WEBHOOK_URL`, one signed `digest.daily` event.
 */
export const sendDigestJob = defineJob({
  queue: 'send-digest',
  description:
    "Report yesterday's CPAU, cost split, active users, hit rates, fallback share and alerts as a log line and a digest.daily event to ALERT_WEBHOOK_URL.",
  schema: z
    .object({
      // Optional: the digest of a given UTC day (a resend by hand).
      day: z.iso.date().optional(),
    })
    .strict(),
  options: { attempts: 3, backoffMs: 60_000, timeoutMs: 60_000, concurrency: 1 },
  schedule: (config) => ({ cron: config.alerts.digestCron }),
  async process(payload, { job, deps, log }) {
    // The UTC day before the run's: complete once the 00:05 rollup has run. The job's own
    // timestamp, so a retry reports the same day.
    const day = payload.day ?? utcDay(new Date(job.timestamp), -1);
    const { digest, deliveryId } = await sendDigest({ ...deps, log }, day);
    return { day, deliveryId: deliveryId ?? null, cpauUsd: digest.cpauUsd };
  },
});
