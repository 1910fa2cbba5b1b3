import { setMaxListeners } from 'node:events';
import { type Job, WaitingError } from 'bullmq';
import { JobTimeoutError } from '../errors/job-timeout-error.ts';
import { WorkerShutdownError } from '../errors/worker-shutdown-error.ts';
import { resolveJobOptions } from './default-options.ts';
import type { AnyJobDefinition, JobDeps } from './job-definition.ts';
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
  // One listener per active job; concurrency can exceed the default warning threshold of 10.
  setMaxListeners(0, shutdown);

  return async (job, token, bullSignal) => {
    const payload = parsePayload(definition, job.data);
    const controller = new AbortController();
    const abort = (reason: unknown) => () => controller.abort(reason);
    const onShutdown = abort(new WorkerShutdownError());
    const onCancel = abort(new Error(`cancelled: ${String(bullSignal?.reason ?? 'by operator')}`));
    const timer = setTimeout(abort(new JobTimeoutError(definition.queue, timeoutMs)), timeoutMs);
    shutdown.addEventListener('abort', onShutdown, { once: true });
    bullSignal?.addEventListener('abort', onCancel, { once: true });
    if (shutdown.aborted) onShutdown();

    const { signal } = controller;
    const aborted = new Promise<never>((_, reject) => {
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
    aborted.catch(() => {}); // Observed below through Promise.race; never unhandled.
    const log = deps.log.child({ queue: definition.queue, jobId: job.id });
    try {
      if (signal.aborted) throw signal.reason;
      return await Promise.race([definition.process(payload, { job, signal, log, deps }), aborted]);
    } catch (error) {
      if (error instanceof WorkerShutdownError && token) {
        await job.moveToWait(token);
        log.info('handed back to the queue on shutdown');
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
