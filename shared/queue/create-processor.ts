import { setMaxListeners } from 'node:events';
import { DelayedError, type Job, WaitingError } from 'bullmq';
import { JobTimeoutError } from '../errors/job-timeout-error.ts';
import { isStoreUnreachable } from '../errors/store-unreachable.ts';
import { WorkerShutdownError } from '../errors/worker-shutdown-error.ts';
import type { Logger } from '../log/logger.ts';
import { resolveJobOptions } from './default-options.ts';
import type { AnyJobDefinition, JobContext, JobDeps } from './job-definition.ts';
import { parsePayload } from './queues.ts';

/**
 * Wraps a definition's `process` into a BullMQ processor:
 * - `job.data` is parsed again (it may have been written by older code); a bad payload fails
 *   the job as unrecoverable, naming the field;
 * - the processor's signal aborts on timeout, on board cancellation and on `shutdown`;
 * - a promise that never settles cannot keep a job active: the attempt fails at the timeout;
 * - on shutdown the job is moved back to `wait` for another worker instead of failing;
 * - when Postgres or Redis cannot be reached, a job (not a scheduled run, which its schedule
 *   repeats anyway) waits, delayed 1 s doubling to 30 s, and runs again without spending one of
 *   its attempts, for up to {@link OUTAGE_RETRIES} waits (about an hour): a store outage longer
 *   than a job's retry schedule must not fail its work.
 */
export function createProcessor(
  definition: AnyJobDefinition,
  deps: JobDeps,
  shutdown: AbortSignal,
): (job: Job, token?: string, bullSignal?: AbortSignal) => Promise<unknown> {
  const { timeoutMs } = resolveJobOptions(definition.options);
  const queue = definition.queue;
  // One listener per active job; concurrency can exceed the default warning threshold of 10.
  setMaxListeners(0, shutdown);

  return async (job, token, bullSignal) => {
    const payload = parsePayload(definition, job.data);
    const controller = new AbortController();
    let rejectRace: (reason: unknown) => void = () => {};
    // Settles the attempt on abort even when the processor ignores its signal.
    const race = new Promise<never>((_, reject) => {
      rejectRace = reject;
    });
    // Observed through Promise.race below; when the worker is already shutting down the attempt
    // throws before the race exists, and an unobserved rejection would end the process.
    race.catch(() => {});
    const abort = (reason: unknown) => {
      if (controller.signal.aborted) return;
      controller.abort(reason);
      rejectRace(reason);
    };
    const onShutdown = () => abort(new WorkerShutdownError());
    const onCancel = () =>
      abort(new Error(`cancelled: ${String(bullSignal?.reason ?? 'by operator')}`));
    const timer = setTimeout(() => abort(new JobTimeoutError(queue, timeoutMs)), timeoutMs);
    shutdown.addEventListener('abort', onShutdown);
    bullSignal?.addEventListener('abort', onCancel);
    if (shutdown.aborted) onShutdown();

    let log: Logger | undefined;
    const context: JobContext = {
      job,
      signal: controller.signal,
      deps,
      // Created on first use: most jobs never log, and a pino child per job is not free.
      get log() {
        log ??= deps.log.child({ queue, jobId: job.id });
        return log;
      },
    };
    try {
      if (controller.signal.aborted) throw controller.signal.reason;
      return await Promise.race([definition.process(payload, context), race]);
    } catch (error) {
      if (error instanceof WorkerShutdownError && token) {
        await job.moveToWait(token);
        context.log.info('handed back to the queue on shutdown');
        throw new WaitingError();
      }
      const waits = outageWaits(job);
      // A scheduled run is not waited for: the schedule's next run does its work.
      if (token && !job.repeatJobKey && isStoreUnreachable(error) && waits < OUTAGE_RETRIES) {
        const delayMs = outageDelayMs(waits);
        // Needs Redis: when Redis is the store that is down this throws, and BullMQ's own
        // failure handling (or the stalled-job check) takes over.
        await job.moveToDelayed(Date.now() + delayMs, token);
        context.log.warn(
          { err: error, delayMs, waits: waits + 1 },
          'a store is unreachable; the job waits and runs again without spending an attempt',
        );
        throw new DelayedError();
      }
      throw error;
    } finally {
      clearTimeout(timer);
      shutdown.removeEventListener('abort', onShutdown);
      bullSignal?.removeEventListener('abort', onCancel);
    }
  };
}

/** Waits for a store outage after which the error counts as a failed attempt (~1 h). */
export const OUTAGE_RETRIES = 125;

/**
 * Runs of this job that neither succeeded nor spent an attempt: the outage waits so far. A run
 * handed back on shutdown, or one a job delays itself (deliver-webhook's schedule), counts too,
 * which only shortens the budget (the delay is capped at 30 s anyway).
 */
function outageWaits(job: Job): number {
  return Math.max(0, (job.attemptsStarted ?? 0) - (job.attemptsMade ?? 0) - 1);
}

/** 1 s, 2 s, 4 s … capped at 30 s, ±20 % so a fleet of waiting jobs does not return at once. */
function outageDelayMs(waits: number): number {
  return Math.round(Math.min(30_000, 1_000 * 2 ** waits) * (0.8 + Math.random() * 0.4));
}
