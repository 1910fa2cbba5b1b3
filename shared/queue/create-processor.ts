import { setMaxListeners } from 'node:events';
import { type Job, WaitingError } from 'bullmq';
import { JobTimeoutError } from '../errors/job-timeout-error.ts';
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
 * - on shutdown the job is moved back to `wait` for another worker instead of failing.
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
      throw error;
    } finally {
      clearTimeout(timer);
      shutdown.removeEventListener('abort', onShutdown);
      bullSignal?.removeEventListener('abort', onCancel);
    }
  };
}
