import { setMaxListeners } from 'node:events';
import { DelayedError, type Job, WaitingError } from 'bullmq';
import { JobTimeoutError } from '../errors/job-timeout-error.ts';
import { WorkerShutdownError } from '../errors/worker-shutdown-error.ts';
import type { Logger } from '../log/logger.ts';
import { resolveJobOptions } from './default-options.ts';
import type { AnyJobDefinition, JobContext, JobDeps } from './job-definition.ts';
import { clearWaiting, decideOutageWait, type OutageWait, recordWaiting } from './outage-wait.ts';
import { parsePayload } from './queues.ts';

/**
 * Wraps a definition's `process` into a BullMQ processor:
 * - `job.data` is parsed again (it may have been written by older code); a bad payload fails
 *   the job as unrecoverable, naming the field;
 * - the processor's signal aborts on timeout, on board cancellation and on `shutdown`;
 * - a promise that never settles cannot keep a job active: the attempt fails at the timeout;
 * - on shutdown the job is moved back to `wait` for another worker instead of failing;
 * - when Postgres or Redis cannot be reached, or the job's own `waitsOut` names the error (a
 *   model server that refuses connections), a job (not a scheduled run, which its schedule
 *   repeats anyway) waits, delayed 1 s doubling to 30 s, and runs again without spending one of
 *   its attempts — about an hour for a store, as long as `waitsOut` says for the rest — and its
 *   progress says why it waits and what its last error was (see `outage-wait.ts`).
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

    // Decided once per error: the processor asks (`waitsOut`, to know whether this run is its
    // last) and the catch below acts, and a wait bounded by time must get the same answer.
    let decided: { error: unknown; wait: OutageWait | undefined } | undefined;
    const outageWait = (error: unknown) => {
      if (decided && decided.error === error) return decided.wait;
      const wait = token ? decideOutageWait(definition, deps.config, job, error) : undefined;
      decided = { error, wait };
      return wait;
    };
    let log: Logger | undefined;
    const context: JobContext = {
      job,
      signal: controller.signal,
      deps,
      waitsOut: (error) => outageWait(error) !== undefined,
      // Created on first use: most jobs never log, and a pino child per job is not free.
      get log() {
        log ??= deps.log.child({ queue, jobId: job.id });
        return log;
      },
    };
    try {
      if (controller.signal.aborted) throw controller.signal.reason;
      const result = await Promise.race([definition.process(payload, context), race]);
      // Cosmetic (the progress note of an outage that is over): never fails finished work.
      await clearWaiting(job).catch(() => {});
      return result;
    } catch (error) {
      if (error instanceof WorkerShutdownError && token) {
        await job.moveToWait(token);
        context.log.info('handed back to the queue on shutdown');
        throw new WaitingError();
      }
      const wait = outageWait(error);
      if (wait && token) {
        // Needs Redis: when Redis is the store that is down this throws, and BullMQ's own
        // failure handling (or the stalled-job check) takes over.
        await recordWaiting(job, wait, error);
        await job.moveToDelayed(Date.now() + wait.delayMs, token);
        context.log.warn(
          { err: error, reason: wait.reason, delayMs: wait.delayMs, since: wait.since },
          `${wait.reason === 'store_unreachable' ? 'a store is unreachable' : wait.reason}; the job waits and runs again without spending an attempt`,
        );
        throw new DelayedError();
      }
      // An outage's note stays on a failure: its `since` keeps the wait bounded if the outage
      // goes on into the job's next attempt.
      throw error;
    } finally {
      clearTimeout(timer);
      shutdown.removeEventListener('abort', onShutdown);
      bullSignal?.removeEventListener('abort', onCancel);
    }
  };
}
