/**
 * Why a webhook request got no HTTP answer. `blocked`, `invalid-url` and `https-required` are
 * about the URL itself, so repeating the request cannot help; `timeout` and `network` may pass.
 */
export type WebhookDeliveryFailure =
  | 'blocked'
  | 'timeout'
  | 'network'
  | 'invalid-url'
  | 'https-required';

const PERMANENT: ReadonlySet<WebhookDeliveryFailure> = new Set([
  'blocked',
  'invalid-url',
  'https-required',
]);

/**
 * A webhook request that ended without an HTTP response (an HTTP error status is a response,
 * not this error). Switch on `reason`; `permanent` says whether a retry could ever succeed.
 * `cause` holds the underlying error (`ECONNREFUSED`, a TLS failure …) for `network`.
 */
export class WebhookDeliveryError extends Error {
  readonly reason: WebhookDeliveryFailure;
  /** The destination as the caller gave it. */
  readonly url: string;

  constructor(
    reason: WebhookDeliveryFailure,
    url: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'WebhookDeliveryError';
    this.reason = reason;
    this.url = url;
  }

  /** True when the URL itself is the problem: retrying the same URL cannot succeed. */
  get permanent(): boolean {
    return PERMANENT.has(this.reason);
  }
}
