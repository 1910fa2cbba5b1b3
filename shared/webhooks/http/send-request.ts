import http from 'node:http';
import https from 'node:https';
import { BlockedDestinationError } from '../../errors/blocked-destination-error.ts';
import { WebhookDeliveryError } from '../../errors/webhook-delivery-error.ts';
import { parseRetryAfter } from './retry-after.ts';

/** What the receiver answered. Any status, 3xx included: classifying it is the caller's job. */
export interface DeliveryResponse {
  status: number;
  /** Lower-case names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  /** The body as UTF-8, at most `maxResponseBytes` of it. */
  body: string;
  /** True when the receiver sent more than `maxResponseBytes` (the rest was never read). */
  truncated: boolean;
  durationMs: number;
  /** From `Retry-After` (seconds or an HTTP date), when the receiver sent a readable one. */
  retryAfterMs?: number | undefined;
}

export interface SendOptions {
  body: string | Uint8Array;
  headers?: Readonly<Record<string, string>> | undefined;
  method?: string | undefined;
  signal?: AbortSignal | undefined;
  agent: http.Agent;
  userAgent: string;
  timeoutMs: number;
  maxResponseBytes: number;
}

/**
 * One request through `options.agent`, settled exactly once: by the response (its body read up
 * to the cap), by an error, by the deadline, or by the signal. `http.request` never follows
 * redirects, so a 3xx comes back as it is.
 */
export function sendRequest(
  url: string,
  target: URL,
  options: SendOptions,
): Promise<DeliveryResponse> {
  const started = performance.now();
  const body = typeof options.body === 'string' ? Buffer.from(options.body) : options.body;
  const { signal, timeoutMs, maxResponseBytes } = options;
  signal?.throwIfAborted();

  return new Promise((resolve, reject) => {
    const request = (target.protocol === 'https:' ? https : http).request(target, {
      method: options.method ?? 'POST',
      agent: options.agent,
      headers: {
        'user-agent': options.userAgent,
        ...options.headers,
        'content-length': String(body.byteLength),
      },
    });
    let settled = false;
    const settle = () => {
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: unknown, asIs = false) => {
      if (settled) return;
      settle();
      request.destroy();
      reject(asIs ? error : classify(error, url, target));
    };
    // The whole exchange, a body trickled one byte at a time included, ends at the deadline.
    const timer = setTimeout(
      () =>
        fail(
          new WebhookDeliveryError(
            'timeout',
            url,
            `${target.origin} sent no complete response within ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
    const onAbort = () => fail(signal?.reason, true);
    signal?.addEventListener('abort', onAbort, { once: true });

    request.on('error', fail);
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      const finish = () => {
        if (settled) return;
        settle();
        resolve({
          status: response.statusCode ?? 0,
          headers: flattenHeaders(response.headers),
          body: Buffer.concat(chunks).toString('utf8'),
          truncated,
          durationMs: performance.now() - started,
          retryAfterMs: parseRetryAfter(header(response.headers['retry-after'])),
        });
      };
      response.on('data', (chunk: Buffer) => {
        if (settled) return;
        const room = maxResponseBytes - size;
        if (chunk.length <= room) {
          chunks.push(chunk);
          size += chunk.length;
          return;
        }
        chunks.push(chunk.subarray(0, room));
        truncated = true;
        finish();
        // Destroying (not draining) the response closes its socket: the rest is never read.
        response.destroy();
      });
      response.on('end', finish);
      response.on('error', fail);
      response.on('close', () => {
        if (!response.complete) fail(new Error('connection closed before the response ended'));
      });
    });
    request.end(body);
  });
}

/** Blocked addresses keep their class (now with the full URL); other failures become `network`. */
function classify(error: unknown, url: string, target: URL): WebhookDeliveryError {
  if (error instanceof BlockedDestinationError) {
    return new BlockedDestinationError({
      url,
      hostname: target.hostname,
      address: error.address,
      range: error.range,
    });
  }
  if (error instanceof WebhookDeliveryError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new WebhookDeliveryError('network', url, `could not reach ${target.origin}: ${message}`, {
    cause: error,
  });
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function flattenHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const text = header(value);
    if (text !== undefined) flat[name] = text;
  }
  return flat;
}
