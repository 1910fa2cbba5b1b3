import { WebhookVerificationError } from './errors/webhook-verification-error.ts';

/** The Standard Webhooks spec's suggested tolerance: 5 minutes of clock skew and delay. */
const DEFAULT_TOLERANCE_SECONDS = 300;
const SECRET_PREFIX = 'whsec_';
const MIN_SECRET_BYTES = 16;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * A request's headers: a fetch `Headers` (Next.js, Hono, Workers, Deno), or a plain object of
 * them (Node's `req.headers`, Express), matched without regard to case.
 */
export type WebhookRequestHeaders =
  | { get(name: string): string | null }
  | Readonly<Record<string, string | readonly string[] | undefined>>;

export interface VerifyWebhookOptions {
  /** How far `webhook-timestamp` may be from now, either way, in seconds. @defaultValue 300 */
  toleranceSeconds?: number | undefined;
  /** The current time (a `Date` or epoch milliseconds); for tests. @defaultValue `Date.now()` */
  now?: Date | number | undefined;
}

/**
 * Checks that a webhook came from lowburn, per the Standard Webhooks spec, and returns its JSON
 * payload. `payload` must be the raw request body, exactly as received: parse it first and
 * re-serialise, and the signature no longer matches. Runs anywhere WebCrypto does (Node 20+,
 * browsers, edge runtimes).
 *
 * `webhook-signature` may hold several space-separated signatures (lowburn signs with the old
 * and the new secret while a key rotates); one matching `v1` signature is enough. `secret` may be
 * a list too, for rotating on the receiving side.
 *
 * @throws {WebhookVerificationError} with a `reason`: missing headers, a timestamp outside the
 * tolerance, a malformed secret, no matching signature, or a body that is not JSON.
 *
 * @example
 * ```ts
 * export async function POST(request: Request) {
 *   const event = await verifyWebhook(await request.text(), request.headers, env.LOWBURN_WEBHOOK_SECRET);
 *   // event is the parsed payload: { type: 'generation.completed', … }
 *   return new Response(null, { status: 204 });
 * }
 * ```
 */
export async function verifyWebhook<T = unknown>(
  payload: string,
  headers: WebhookRequestHeaders,
  secret: string | readonly string[],
  options: VerifyWebhookOptions = {},
): Promise<T> {
  const id = readHeader(headers, 'webhook-id');
  const timestamp = readHeader(headers, 'webhook-timestamp');
  const signatures = readHeader(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures) {
    throw new WebhookVerificationError(
      'missing-headers',
      'webhook-id, webhook-timestamp and webhook-signature are all required',
    );
  }
  checkTimestamp(timestamp, options);

  const keys = (typeof secret === 'string' ? [secret] : secret).map(decodeSecret);
  const signed = new TextEncoder().encode(`${id}.${timestamp}.${payload}`);
  const expected = await Promise.all(keys.map((key) => hmacSha256(key, signed)));
  const presented = signatures
    .split(/\s+/)
    .filter((entry) => entry.startsWith('v1,'))
    .map((entry) => decodeBase64(entry.slice(3)))
    .filter((bytes) => bytes !== undefined);
  // Every pair is compared in full, so the time taken says nothing about which one matched.
  let matched = false;
  for (const mac of expected) {
    for (const candidate of presented) matched = constantTimeEqual(mac, candidate) || matched;
  }
  if (!matched) {
    throw new WebhookVerificationError(
      'no-matching-signature',
      'no webhook-signature matches: wrong secret, or the body, id or timestamp was changed',
    );
  }

  try {
    return JSON.parse(payload) as T;
  } catch {
    throw new WebhookVerificationError('invalid-payload', 'the signed webhook body is not JSON');
  }
}

function readHeader(headers: WebhookRequestHeaders, name: string): string | undefined {
  if (typeof headers.get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  const record = headers as Readonly<Record<string, string | readonly string[] | undefined>>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return typeof value === 'string' ? value : value?.join(' ');
}

function checkTimestamp(timestamp: string, options: VerifyWebhookOptions): void {
  if (!/^\d{1,12}$/.test(timestamp)) {
    throw new WebhookVerificationError(
      'invalid-timestamp',
      'webhook-timestamp must be whole seconds since the epoch',
    );
  }
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const nowMs = options.now instanceof Date ? options.now.getTime() : (options.now ?? Date.now());
  const skew = Math.floor(nowMs / 1_000) - Number(timestamp);
  if (skew > tolerance) {
    throw new WebhookVerificationError(
      'timestamp-too-old',
      `webhook-timestamp is ${skew} s old, more than the ${tolerance} s tolerance`,
    );
  }
  if (-skew > tolerance) {
    throw new WebhookVerificationError(
      'timestamp-too-new',
      `webhook-timestamp is ${-skew} s in the future, more than the ${tolerance} s tolerance`,
    );
  }
}

function decodeSecret(secret: string): Uint8Array<ArrayBuffer> {
  const key = secret.startsWith(SECRET_PREFIX)
    ? decodeBase64(secret.slice(SECRET_PREFIX.length))
    : undefined;
  if (!key || key.length < MIN_SECRET_BYTES) {
    // The message never quotes the secret: errors end up in logs.
    throw new WebhookVerificationError(
      'invalid-secret',
      `the webhook secret must be ${SECRET_PREFIX} and the base64 of at least ${MIN_SECRET_BYTES} bytes`,
    );
  }
  return key;
}

function decodeBase64(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (text.length === 0 || !BASE64.test(text)) return undefined;
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

async function hmacSha256(
  key: Uint8Array<ArrayBuffer>,
  data: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array> {
  const cryptoKey = await crypto.subtle.importKey(
    'raw',
    key,
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  return new Uint8Array(await crypto.subtle.sign('HMAC', cryptoKey, data));
}

/** Equal bytes, in time that depends on the length only (an HMAC's length is no secret). */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return difference === 0;
}
