// The day's scheduled jobs run by the workers' own job schedulers on the compressed clock
// (CLOCK_RATE = DAY_COMPRESSION; see the README's "Simulated day"): the bench sets the clock and
// the nightly crons, and afterwards reads from BullMQ which scheduled runs happened, and when.

import { checkAlertsJob } from '../../jobs/check-alerts/index.ts';
import { exportColdJob } from '../../jobs/export-cold/index.ts';
import { exportFinetuneJob } from '../../jobs/export-finetune/index.ts';
import { precomputeCacheJob } from '../../jobs/precompute-cache/index.ts';
import { rollupUsageJob } from '../../jobs/rollup-usage/index.ts';
import { envSpec } from '../../shared/config/env-spec.ts';
import type { QueueContract } from '../../shared/queue/job-definition.ts';
import type { Queues } from '../../shared/queue/queues.ts';

/** The real start of the day (simulated 00:00 of `dayStartMs`) at `compression`. */
export interface DayClock {
  startedAtMs: number;
  dayStartMs: number;
  compression: number;
}

/** The processes' clock and the nightly crons (their defaults, whatever the environment says). */
export function clockEnv(clock: DayClock): Record<string, string> {
  return {
    CLOCK_RATE: String(clock.compression),
    CLOCK_ORIGIN: new Date(clock.dayStartMs).toISOString(),
    CLOCK_STARTED_AT: new Date(clock.startedAtMs).toISOString(),
    EXPORT_CRON: defaultOf('EXPORT_CRON'),
    PRECOMPUTE_CRON: defaultOf('PRECOMPUTE_CRON'),
    ALERT_CRON: defaultOf('ALERT_CRON'),
    DIGEST_CRON: defaultOf('DIGEST_CRON'),
    // Weekly (Sunday 04:00) by default: daily here, so the one-day run has its fine-tune export
    // at 04:00 whatever the weekday of its date.
    FINETUNE_CRON: defaultOf('FINETUNE_CRON').replace(/ \S+$/, ' *'),
  };
}

function defaultOf(
  name: 'EXPORT_CRON' | 'PRECOMPUTE_CRON' | 'ALERT_CRON' | 'DIGEST_CRON' | 'FINETUNE_CRON',
) {
  const value: string | undefined = envSpec[name].default;
  if (!value) throw new Error(`${name} has no default in env-spec.ts`);
  return value;
}

/** The scheduled jobs whose runs the report lists. */
const REPORTED: QueueContract[] = [
  exportColdJob,
  precomputeCacheJob,
  rollupUsageJob,
  exportFinetuneJob,
  checkAlertsJob,
];

export interface ScheduledRuns {
  /**
   * Per queue: the runs due within the simulated day(s) by outcome, the simulated times of the
   * first 30 (`MM-DDTHH:MM`), the first failure's reason, and the runs due before the day (the
   * fleet boots a little ahead of it) or after it (during the drain).
   */
  [queue: string]: {
    completed: number;
    failed: number;
    unfinished: number;
    at: string[];
    failedReason?: string;
    outside: number;
  };
}

/** Which scheduled runs BullMQ kept (finished runs are kept a day, up to 1,000 a queue). */
export async function scheduledRuns(
  queues: Queues,
  clock: DayClock,
  days: number,
): Promise<ScheduledRuns> {
  const out: ScheduledRuns = {};
  const dayEnd = clock.dayStartMs + days * 86_400_000;
  for (const job of REPORTED) {
    const queue = queues.get(job);
    const jobs = (await queue.getJobs(['completed', 'failed', 'active', 'wait', 'delayed']))
      .filter((j) => j.id?.startsWith('repeat:'))
      .sort((a, b) => slot(a.id) - slot(b.id));
    const runs: ScheduledRuns[string] = {
      completed: 0,
      failed: 0,
      unfinished: 0,
      at: [],
      outside: 0,
    };
    for (const j of jobs) {
      const simulated = clock.dayStartMs + (slot(j.id) - clock.startedAtMs) * clock.compression;
      if (slot(j.id) > Date.now()) continue; // the next one, still delayed
      if (simulated < clock.dayStartMs || simulated >= dayEnd) {
        runs.outside += 1;
        continue;
      }
      const state = j.finishedOn ? (j.failedReason ? 'failed' : 'completed') : 'unfinished';
      runs[state] += 1;
      if (state === 'failed') runs.failedReason ??= j.failedReason;
      if (runs.at.length < 30) runs.at.push(new Date(simulated).toISOString().slice(5, 16));
    }
    out[job.queue] = runs;
  }
  return out;
}

/** The real ms a scheduler's job was due: the last part of its id (`repeat:<id>:<ms>`). */
const slot = (id: string | undefined) => Number(id?.split(':').at(-1));
