/**
 * The request never got an HTTP answer: DNS, a refused or reset connection, TLS. Requests that are
 * safe to repeat have already been retried (`retries`) by the time this is thrown. `cause` holds
 * the error `fetch` threw.
 */
export class LowburnNetworkError extends Error {
  readonly method: string;
  readonly url: string;

  constructor(method: string, url: string, cause: unknown) {
    super(`Could not reach lowburn: ${method} ${url} failed (${describe(cause)})`, { cause });
    this.name = 'LowburnNetworkError';
    this.method = method;
    this.url = url;
  }
}

/** Node's fetch says only "fetch failed"; the useful part (ECONNREFUSED …) is its cause. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const inner = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${inner}`;
}
