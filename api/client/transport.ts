import { deadline, sleep } from './abort.ts';
import { toApiError } from './error-response.ts';
import { LowburnApiError } from './errors/lowburn-api-error.ts';
import { LowburnNetworkError } from './errors/lowburn-network-error.ts';
import { LowburnTimeoutError } from './errors/lowburn-timeout-error.ts';
import { retryDelayMs } from './retry-policy.ts';

export interface TransportOptions {
  /** Ends with `/`, so relative paths keep a path prefix (`https://host/lowburn/`). */
  baseUrl: URL;
  apiKey: string;
  fetch: typeof fetch;
  timeoutMs: number;
  retries: number;
}

export interface Call {
  method: 'GET' | 'POST' | 'DELETE';
  /** Relative to the base URL, without a leading slash: `v1/jobs/…`. */
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Safe to send twice (a GET, or a POST with an Idempotency-Key). */
  repeatable: boolean;
  signal?: AbortSignal | undefined;
}

export type Send = <T>(call: Call) => Promise<T>;

/** One JSON request/response round trip with timeouts, typed errors and retries. */
export function createTransport(options: TransportOptions): Send {
  // A local binding: calling `options.fetch(…)` would pass `options` as `this`, which the native
  // fetch of Cloudflare Workers rejects with "Illegal invocation".
  const fetchImpl = options.fetch;

  async function attempt<T>(url: string, init: RequestInit, signal?: AbortSignal): Promise<T> {
    const method = init.method ?? 'GET';
    const limit = deadline(
      options.timeoutMs,
      signal,
      () =>
        new LowburnTimeoutError(
          `${method} ${url} got no complete answer within ${options.timeoutMs} ms`,
          { timeoutMs: options.timeoutMs },
        ),
    );
    let response: Response;
    let text: string;
    try {
      response = await fetchImpl(url, { ...init, signal: limit.signal });
      text = await response.text();
    } catch (cause) {
      // Whatever error this fetch made of the abort, the reason is the caller's or our timeout.
      if (limit.signal.aborted) throw limit.signal.reason;
      throw new LowburnNetworkError(method, url, cause);
    } finally {
      limit.dispose();
    }
    if (!response.ok) throw toApiError(response, text);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new LowburnApiError({
        status: response.status,
        code: 'internal',
        message: `${method} ${url} answered ${response.status} without a JSON body: ${text.slice(0, 200)}`,
      });
    }
  }

  return async function send<T>(call: Call): Promise<T> {
    const url = new URL(call.path, options.baseUrl).href;
    const init: RequestInit = {
      method: call.method,
      headers: {
        authorization: `Bearer ${options.apiKey}`,
        accept: 'application/json',
        ...(call.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...call.headers,
      },
      ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
    };
    for (let retry = 0; ; retry++) {
      try {
        return await attempt<T>(url, init, call.signal);
      } catch (error) {
        if (call.signal?.aborted) throw call.signal.reason;
        const delay =
          retry < options.retries ? retryDelayMs(error, retry, call.repeatable) : undefined;
        if (delay === undefined) throw error;
        await sleep(delay, call.signal);
      }
    }
  };
}
