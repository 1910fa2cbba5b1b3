import { rootCertificates } from 'node:tls';
import { WebhookDeliveryError } from '../../errors/webhook-delivery-error.ts';
import { AddressPolicy, type AddressPolicyOptions } from './address-policy.ts';
import {
  GuardedHttpAgent,
  GuardedHttpsAgent,
  type Resolver,
  systemResolver,
} from './guarded-agent.ts';
import { type DeliveryResponse, sendRequest } from './send-request.ts';

export type { DeliveryResponse } from './send-request.ts';

const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;
// Idle keep-alive sockets are closed after 4 s: before the 5 s keep-alive timeout of Node servers
// (and most proxies' longer ones), so a request is rarely written into a socket the receiver is
// closing, and a receiver cannot make us hold idle sockets open for long.
const IDLE_SOCKET_MS = 4_000;

/** How the client reaches receivers: set once, from configuration, for all deliveries. */
export interface WebhookHttpClientOptions extends AddressPolicyOptions {
  /**
   * Allow `http:` URLs. Only for development and tests: a webhook in clear text leaks its
   * payload and signature to every hop.
   * @defaultValue false
   */
  allowHttp?: boolean | undefined;
  /** Whole-request limit: connect, send, headers and body. @defaultValue 15000 */
  timeoutMs?: number | undefined;
  /** Response body bytes kept; the connection is dropped after that. @defaultValue 65536 */
  maxResponseBytes?: number | undefined;
  /** Host name resolution, checked address by address. @defaultValue the system resolver */
  resolve?: Resolver | undefined;
  /** Extra trusted CA certificates (PEM): a private PKI, or a test's self-signed receiver. */
  ca?: string | readonly string[] | undefined;
  /** @defaultValue `lowburn-webhooks/1` */
  userAgent?: string | undefined;
}

/** One request. `timeoutMs` and `maxResponseBytes` override the client's for this call. */
export interface DeliverOptions {
  body: string | Uint8Array;
  headers?: Readonly<Record<string, string>> | undefined;
  /** @defaultValue `POST` */
  method?: string | undefined;
  timeoutMs?: number | undefined;
  maxResponseBytes?: number | undefined;
  /** Ends the request early (worker shutdown); the promise rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
}

export interface WebhookHttpClient {
  /**
   * Sends one request to a URL a stranger chose: never to a non-public address (checked for
   * every address, at connect time), never following redirects, within the time limit.
   *
   * @throws {BlockedDestinationError} the URL reaches a refused address (permanent).
   * @throws {WebhookDeliveryError} `reason` `invalid-url` or `https-required` (permanent),
   * `timeout` or `network` (may pass).
   *
   * @example
   * ```ts
   * const { status, retryAfterMs } = await client.deliver(endpoint.url, {
   *   body,
   *   headers: { 'content-type': 'application/json', ...signWebhook({ id, body, secret }) },
   * });
   * ```
   */
  deliver(url: string, options: DeliverOptions): Promise<DeliveryResponse>;
  /** Closes every pooled connection. Deliveries still running fail. */
  close(): void;
}

/**
 * A webhook HTTP client with keep-alive connection pools (one `http` and one `https` agent,
 * pooling per origin), so a busy receiver costs one TCP (and TLS) handshake, not one per event.
 * The address policy is fixed per client: a pooled socket was checked under that policy, so it
 * may only be reused under the same one.
 */
export function createWebhookHttpClient(options: WebhookHttpClientOptions = {}): WebhookHttpClient {
  const policy = new AddressPolicy(options);
  const resolve = options.resolve ?? systemResolver;
  const agentOptions = { keepAlive: true, timeout: IDLE_SOCKET_MS, scheduling: 'lifo' } as const;
  // `ca` replaces Node's bundled roots, so they are passed along with the extra ones.
  const ca = options.ca ? [...[options.ca].flat(), ...rootCertificates] : undefined;
  const agents = {
    'http:': new GuardedHttpAgent(policy, resolve, agentOptions),
    'https:': new GuardedHttpsAgent(policy, resolve, { ...agentOptions, ...(ca ? { ca } : {}) }),
  };
  const allowHttp = options.allowHttp ?? false;
  const userAgent = options.userAgent ?? 'lowburn-webhooks/1';

  return {
    deliver: async (url, request) => {
      const target = parseTarget(url, allowHttp);
      return sendRequest(url, target, {
        ...request,
        agent: agents[target.protocol === 'https:' ? 'https:' : 'http:'],
        userAgent,
        timeoutMs: request.timeoutMs ?? options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        maxResponseBytes:
          request.maxResponseBytes ?? options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
      });
    },
    close: () => {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}

/** The URL, or a permanent error for one that is malformed, not HTTP(S), or clear-text. */
function parseTarget(url: string, allowHttp: boolean): URL {
  let target: URL;
  try {
    target = new URL(url);
  } catch (error) {
    throw new WebhookDeliveryError('invalid-url', url, 'not a valid URL', { cause: error });
  }
  if (target.protocol !== 'https:' && target.protocol !== 'http:') {
    throw new WebhookDeliveryError('invalid-url', url, `not an HTTP(S) URL: ${target.protocol}`);
  }
  if (target.protocol === 'http:' && !allowHttp) {
    throw new WebhookDeliveryError(
      'https-required',
      url,
      `webhook URLs must use https: (${target.origin})`,
    );
  }
  return target;
}
