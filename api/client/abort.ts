/**
 * Abort plumbing written against the Web APIs every runtime has (`AbortSignal.any` and
 * `AbortSignal.timeout` are missing from some edge runtimes and test environments).
 */

/** Resolves after `ms`; rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface Deadline {
  /** Aborts with `parent`'s reason when the parent aborts, or with `onExpire()` after `ms`. */
  signal: AbortSignal;
  /** Stops the timer and unhooks the parent; call it once the guarded work is done. */
  dispose(): void;
}

/** A signal for one piece of work that must finish within `ms` unless `parent` aborts first. */
export function deadline(
  ms: number,
  parent: AbortSignal | undefined,
  onExpire: () => unknown,
): Deadline {
  const controller = new AbortController();
  const onAbort = () => controller.abort(parent?.reason);
  const timer = setTimeout(() => controller.abort(onExpire()), ms);
  if (parent?.aborted) onAbort();
  else parent?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    dispose() {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onAbort);
    },
  };
}
