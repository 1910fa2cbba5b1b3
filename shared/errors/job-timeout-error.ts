/** A processor ran past its job's timeout. Retried like any transient failure. */
export class JobTimeoutError extends Error {
  readonly timeoutMs: number;

  constructor(queue: string, timeoutMs: number) {
    super(`${queue} job did not finish within ${timeoutMs} ms`);
    this.name = 'JobTimeoutError';
    this.timeoutMs = timeoutMs;
  }
}
