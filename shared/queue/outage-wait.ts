import type { Job, JobProgress } from 'bullmq';
import type { Config } from '../config/load-config.ts';
import { isStoreUnreachable } from '../errors/store-unreachable.ts';
import type { AnyJobDefinition } from './job-definition.ts';

/** Waits for a store outage after which the error counts as a failed attempt (~1 h). */
export const OUTAGE_RETRIES = 125;

/**
 * What a job waiting out an outage shows in its progress (`progress.waiting`), so the board and
 * `GET /v1/jobs/:id` say why a queued job has not run and what its last error was.
 */
export interface JobWaiting {
  /** `store_unreachable` (Postgres or Redis), or the job's own reason (`model_unreachable`). */
  reason: string;
  lastError: string;
  /** When this outage's first wait began (ISO 8601). */
  since: string;
  /** When the job runs again. */
  retryAt: string;
  /** When it stops waiting and the error counts as a failed attempt; `null`: after ~1 h of waits. */
  until: string | null;
}

/** A decision to wait: why, for how long this time, and since when. */
export interface OutageWait {
  reason: string;
  delayMs: number;
  since: number;
  until: number | null;
}

/** The wait a job's progress records, if it is waiting out an outage. */
export function waitingOf(progress: unknown): JobWaiting | undefined {
  const waiting = (progress as { waiting?: unknown } | null | undefined)?.waiting;
  return waiting && typeof waiting === 'object' ? (waiting as JobWaiting) : undefined;
}

/**
 * Whether `error` is waited out instead of spending an attempt: a store that cannot be reached
 * (up to {@link OUTAGE_RETRIES} waits), or what the job's `waitsOut` names, for as long as it
 * says counted from the first wait of the outage. A scheduled run is never waited for: the
 * schedule's next run does its work.
 */
export function decideOutageWait(
  definition: AnyJobDefinition,
  config: Config,
  job: Job,
  error: unknown,
  now = Date.now(),
): OutageWait | undefined {
  if (job.repeatJobKey) return undefined;
  const waits = Math.max(0, (job.attemptsStarted ?? 0) - (job.attemptsMade ?? 0) - 1);
  const previous = waitingOf(job.progress);
  const sinceFor = (reason: string) =>
    previous?.reason === reason ? Date.parse(previous.since) || now : now;
  if (isStoreUnreachable(error)) {
    if (waits >= OUTAGE_RETRIES) return undefined;
    return {
      reason: 'store_unreachable',
      delayMs: outageDelayMs(waits),
      since: sinceFor('store_unreachable'),
      until: null,
    };
  }
  const own = definition.waitsOut?.(error, config);
  if (!own || own.forMs <= 0) return undefined;
  const since = sinceFor(own.reason);
  if (now - since >= own.forMs) return undefined;
  return { reason: own.reason, delayMs: outageDelayMs(waits), since, until: since + own.forMs };
}

/** Records the wait in the job's progress (kept beside any progress of its own). */
export async function recordWaiting(
  job: Job,
  wait: OutageWait,
  error: unknown,
  now = Date.now(),
): Promise<void> {
  const waiting: JobWaiting = {
    reason: wait.reason,
    lastError: error instanceof Error ? error.message : String(error),
    since: new Date(wait.since).toISOString(),
    retryAt: new Date(now + wait.delayMs).toISOString(),
    until: wait.until === null ? null : new Date(wait.until).toISOString(),
  };
  await job.updateProgress({ ...ownProgress(job.progress), waiting });
}

/** Takes a finished wait off the job's progress. No Redis call for a job that never waited. */
export async function clearWaiting(job: Job): Promise<void> {
  if (!waitingOf(job.progress)) return;
  await job.updateProgress(progressWithoutWaiting(job.progress) as JobProgress);
}

/** The job's own progress, without the runtime's note of an outage (BullMQ's default is 0). */
export function progressWithoutWaiting(progress: unknown): unknown {
  if (!waitingOf(progress)) return progress;
  const rest = ownProgress(progress);
  return Object.keys(rest).length > 0 ? rest : 0;
}

/** The outage a queued job waits out now: a bounded wait whose end has passed is over. */
export function currentWaiting(progress: unknown, now = Date.now()): JobWaiting | undefined {
  const waiting = waitingOf(progress);
  if (!waiting || (waiting.until !== null && Date.parse(waiting.until) <= now)) return undefined;
  return waiting;
}

function ownProgress(progress: unknown): Record<string, unknown> {
  if (!progress || typeof progress !== 'object') return {};
  const { waiting: _waiting, ...rest } = progress as Record<string, unknown>;
  return rest;
}

/** 1 s, 2 s, 4 s … capped at 30 s, ±20 % so a fleet of waiting jobs does not return at once. */
function outageDelayMs(waits: number): number {
  return Math.round(Math.min(30_000, 1_000 * 2 ** waits) * (0.8 + Math.random() * 0.4));
}
