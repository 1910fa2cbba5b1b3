/** Why `verifyWebhook` refused a request. */
export type WebhookVerificationFailure =
  /** `webhook-id`, `webhook-timestamp` or `webhook-signature` is absent. */
  | 'missing-headers'
  /** `webhook-timestamp` is not a whole number of seconds. */
  | 'invalid-timestamp'
  /** Signed longer ago than the tolerance: a replay, or a clock far behind. */
  | 'timestamp-too-old'
  /** Signed further in the future than the tolerance: a clock far ahead. */
  | 'timestamp-too-new'
  /** The secret is not `whsec_` and the base64 of at least 16 bytes (a configuration mistake). */
  | 'invalid-secret'
  /** No `v1` signature in the header matches: wrong secret, or a changed body, id or timestamp. */
  | 'no-matching-signature'
  /** The signature matched but the body is not JSON. */
  | 'invalid-payload';

/**
 * A webhook request did not prove it came from lowburn (or is too old to trust). Answer it with
 * a 4xx and do not act on it; `reason` says what was wrong, for your logs.
 *
 * @example
 * ```ts
 * try {
 *   const event = await verifyWebhook(await request.text(), request.headers, secret);
 * } catch (error) {
 *   if (error instanceof WebhookVerificationError) return new Response(null, { status: 401 });
 *   throw error;
 * }
 * ```
 */
export class WebhookVerificationError extends Error {
  readonly reason: WebhookVerificationFailure;

  constructor(reason: WebhookVerificationFailure, message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
    this.reason = reason;
  }
}
