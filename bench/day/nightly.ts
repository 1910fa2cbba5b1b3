// The scheduled jobs of the day at their simulated times. Until the processes take a compressed
// clock from configuration (see the README's "Simulated day"), the bench enqueues each one itself
// when its simulated time comes, through the same queue entry the scheduler and `lowburn run
// <job>` use (`Queues.add`) — the job then runs on the fleet's workers as a scheduled one would.
// The workers' own schedulers still run on the real clock meanwhile.

import { exportColdJob } from '../../jobs/export-cold/index.ts';
import { exportFinetuneJob } from '../../jobs/export-finetune/index.ts';
import { precomputeCacheJob } from '../../jobs/precompute-cache/index.ts';
import { rollupUsageJob } from '../../jobs/rollup-usage/index.ts';
import type { QueueContract } from '../../shared/queue/job-definition.ts';
import type { Queues } from '../../shared/queue/queues.ts';

const HOUR = 3_600_000;

export interface Triggered {
  job: string;
  /** Simulated ms from the run's start. */
  at: number;
  id: string | undefined;
}

/** The day's schedule: export 00:30, precompute 03:00, rollup at :05 hourly, fine-tune once. */
export function nightlySchedule(days: number): { job: QueueContract; at: number }[] {
  const out: { job: QueueContract; at: number }[] = [];
  for (let d = 0; d < days; d++) {
    const day = d * 24 * HOUR;
    out.push({ job: exportColdJob, at: day + 0.5 * HOUR });
    out.push({ job: precomputeCacheJob, at: day + 3 * HOUR });
    for (let h = 0; h < 24; h++) out.push({ job: rollupUsageJob, at: day + h * HOUR + HOUR / 12 });
  }
  // Weekly in production: once per run, on the first morning.
  out.push({ job: exportFinetuneJob, at: 4 * HOUR });
  return out.sort((a, b) => a.at - b.at);
}

/** Enqueues each job at `originEpochMs + at / compression`; `stop` cancels what is left. */
export function triggerNightly(
  queues: Queues,
  originEpochMs: number,
  compression: number,
  days: number,
): { triggered: Triggered[]; stop(): void } {
  const triggered: Triggered[] = [];
  const timers = nightlySchedule(days).map(({ job, at }) =>
    setTimeout(
      () => {
        // The payload `lowburn run <job>` sends by default: the job decides its own day.
        queues
          .add(job, {})
          .then((added) => triggered.push({ job: job.queue, at, id: added.id }))
          .catch((error: unknown) =>
            triggered.push({ job: `${job.queue} (${error})`, at, id: undefined }),
          );
      },
      Math.max(0, originEpochMs + at / compression - Date.now()),
      // A run that fails does not wait for the rest of the day's schedule.
    ).unref(),
  );
  return { triggered, stop: () => timers.forEach(clearTimeout) };
}
