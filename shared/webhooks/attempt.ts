import type { WebhookConfig } from '../config/load-config.ts';
import type { Db } from '../db/create-db.ts';
import type { SealedValue, SecretKeyring } from '../secrets/secret-keyring.ts';
import { openWebhookSecret } from '../secrets/webhook-secret-seal.ts';
import {
  type DisabledEndpoint,
  disabledError,
  disableEndpoint,
  failedTooLong,
} from './endpoint-health.ts';
import type { WebhookHttpClient } from './http/safe-fetch.ts';
import {
  type AttemptRecord,
  closeWithoutAttempt,
  type DeliveryForAttempt,
  loadDeliveryForAttempt,
  type RecordedAttempt,
  recordAttempt,
} from './ledger.ts';
import {
  type AttemptVerdict,
  describeError,
  describeResponse,
  judgeError,
  judgeResponse,
  judgeSecretError,
  nextAttemptDelay,
} from './retry-policy.ts';
import { signWebhook } from './signing.ts';

export interface AttemptDeps {
  db: Db;
  client: WebhookHttpClient;
  config: Pick<WebhookConfig, 'retryScheduleMs' | 'retryAfterMaxMs' | 'disableAfterMs'>;
  /** Opens the keys' sealed `whsec_` secrets (`SECRETS_KEY`, `SECRETS_KEY_PREVIOUS`). */
  keyring: SecretKeyring;
  /** @defaultValue `() => new Date()` */
  now?: () => Date;
}

/** What came of running a delivery's job once. */
export type AttemptResult =
  /** Nothing to do: the delivery is gone, ended, or in a newer run (replayed). */
  | { outcome: 'stale' }
  /** Woken before its time (after a crash): wait until then. Nothing was sent. */
  | { outcome: 'not-due'; nextAttemptAt: Date }
  /**
   * Not attempted: its URL answered 410 to this key before, its endpoint was disabled for
   * failing too long, or its key was deleted.
   */
  | { outcome: 'disabled' | 'failed'; attempted: false }
  | {
      outcome: 'succeeded' | 'retry' | 'failed' | 'dead' | 'disabled';
      attempted: true;
      attempt: number;
      verdict: AttemptVerdict;
      statusCode: number | null;
      /** What went wrong, as the ledger records it; `null` for a success. */
      error: string | null;
      durationMs: number;
      /** Set for `retry`. */
      nextAttemptAt: Date | null;
      /** From the event's creation to now, for `succeeded`. */
      latencyMs: number;
      /** The ledger did not take the attempt: the delivery was replayed while it ran. */
      superseded: boolean;
      /** This failure disabled the endpoint (`WEBHOOK_DISABLE_AFTER`): set for `disabled`. */
      disabledEndpoint?: DisabledEndpoint;
    };

// A job that wakes this little before its time has not been woken early: timers and clocks of
// the worker, Redis and Postgres differ by a few milliseconds.
const EARLY_TOLERANCE_MS = 1_000;

/**
 * Runs one attempt of a delivery's current run: loads it, sends it signed (new timestamp and
 * signature, same `webhook-id`), judges the answer and records it. A failure that ends a run of
 * failures longer than `disableAfterMs` disables the endpoint. Errors that are not about the
 * receiver (Postgres down, worker shutdown) are thrown: the job retries, nothing is recorded.
 */
export async function attemptDelivery(
  deps: AttemptDeps,
  request: {
    deliveryId: string;
    run: number;
    /** The run's attempts before this one; when given, a job whose attempt is recorded is stale. */
    attempt?: number | undefined;
    signal?: AbortSignal | undefined;
  },
): Promise<AttemptResult> {
  const now = deps.now ?? (() => new Date());
  const delivery = await loadDeliveryForAttempt(deps.db, request.deliveryId);
  if (
    !delivery ||
    delivery.run !== request.run ||
    delivery.status !== 'pending' ||
    (request.attempt !== undefined && request.attempt !== delivery.runAttempts)
  ) {
    return { outcome: 'stale' };
  }
  const { id, run } = delivery;
  if (
    delivery.nextAttemptAt &&
    delivery.nextAttemptAt.getTime() - now().getTime() > EARLY_TOLERANCE_MS
  ) {
    return { outcome: 'not-due', nextAttemptAt: delivery.nextAttemptAt };
  }
  if (delivery.urlDisabled) {
    const error = `not attempted: ${delivery.url} answered 410 Gone to this API key before; replay to re-enable it`;
    await closeWithoutAttempt(deps.db, { id, run, status: 'disabled', error });
    return { outcome: 'disabled', attempted: false };
  }
  if (delivery.endpointDisabled) {
    const error = `not attempted: ${disabledError(delivery.endpoint)}`;
    await closeWithoutAttempt(deps.db, { id, run, status: 'disabled', error });
    return { outcome: 'disabled', attempted: false };
  }
  if (!delivery.sealedSecret || !delivery.apiKeyId) {
    const error = 'not attempted: the API key was deleted, so there is no secret to sign with';
    await closeWithoutAttempt(deps.db, { id, run, status: 'failed', error });
    return { outcome: 'failed', attempted: false };
  }

  const attemptedAt = now();
  const { verdict, statusCode, error, durationMs } = await send(deps, delivery, {
    secret: { apiKeyId: delivery.apiKeyId, sealed: delivery.sealedSecret },
    attemptedAt,
    signal: request.signal,
  });
  // The schedule counts from the end of the attempt: a 15 s timeout must not eat a 5 s delay.
  const next = decide(deps.config, delivery.runAttempts + 1, verdict, now());
  const record: AttemptRecord = {
    id,
    run,
    status: next.status,
    statusCode,
    error,
    durationMs,
    attemptedAt,
    nextAttemptAt: next.at,
    disableUrl: verdict.kind === 'gone',
  };
  const recorded = await recordAttempt(deps.db, record);
  const disabledEndpoint =
    verdict.kind === 'succeeded'
      ? undefined
      : await disableIfFailedTooLong(deps, delivery, recorded);
  const outcome = next.status === 'pending' ? 'retry' : next.status;
  return {
    outcome: disabledEndpoint && outcome === 'retry' ? 'disabled' : outcome,
    attempted: true,
    attempt: recorded?.attempt ?? 0,
    verdict,
    statusCode,
    error,
    durationMs,
    nextAttemptAt: next.at,
    latencyMs: now().getTime() - delivery.createdAt.getTime(),
    superseded: recorded === undefined,
    ...(disabledEndpoint ? { disabledEndpoint } : {}),
  };
}

interface Sent {
  verdict: AttemptVerdict;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

/**
 * Opens the key's secret, signs (new timestamp and signature, same `webhook-id`) and sends.
 * A secret that does not open is an attempt that sends nothing: never a wrong signature.
 */
async function send(
  deps: AttemptDeps,
  delivery: DeliveryForAttempt,
  options: {
    secret: { apiKeyId: string; sealed: SealedValue };
    attemptedAt: Date;
    signal: AbortSignal | undefined;
  },
): Promise<Sent> {
  const started = performance.now();
  let secret: string;
  try {
    secret = openWebhookSecret(deps.keyring, options.secret.apiKeyId, options.secret.sealed);
  } catch (thrown) {
    const verdict = judgeSecretError(thrown);
    if (!verdict) throw thrown;
    const error = `not sent: ${describeError(thrown as Error)}`;
    return { verdict, statusCode: null, error, durationMs: performance.now() - started };
  }
  const body = JSON.stringify(delivery.payload);
  const headers = {
    'content-type': 'application/json',
    ...signWebhook({ id: delivery.id, body, secret, timestamp: options.attemptedAt }),
  };
  try {
    const response = await deps.client.deliver(delivery.url, {
      body,
      headers,
      signal: options.signal,
    });
    return {
      verdict: judgeResponse(response),
      statusCode: response.status,
      error: describeResponse(response),
      durationMs: performance.now() - started,
    };
  } catch (thrown) {
    const verdict = judgeError(thrown);
    if (!verdict) throw thrown;
    const error = describeError(thrown as Error);
    return { verdict, statusCode: null, error, durationMs: performance.now() - started };
  }
}

/** Disables the delivery's endpoint when this failure ends a run of failures long enough. */
async function disableIfFailedTooLong(
  deps: AttemptDeps,
  delivery: DeliveryForAttempt,
  recorded: RecordedAttempt | undefined,
): Promise<DisabledEndpoint | undefined> {
  const failingSince = recorded?.failingSince ?? null;
  const now = deps.now?.() ?? new Date();
  if (!delivery.apiKeyId || !failedTooLong(failingSince, now, deps.config.disableAfterMs)) {
    return undefined;
  }
  return disableEndpoint(deps.db, {
    apiKeyId: delivery.apiKeyId,
    endpoint: delivery.endpoint,
    url: delivery.url,
    failingSince,
  });
}

/** The delivery's status after attempt `runAttempts` of its run, and when the next one is due. */
function decide(
  config: AttemptDeps['config'],
  runAttempts: number,
  verdict: AttemptVerdict,
  finishedAt: Date,
): { status: 'pending' | 'succeeded' | 'failed' | 'dead' | 'disabled'; at: Date | null } {
  if (verdict.kind === 'succeeded') return { status: 'succeeded', at: null };
  if (verdict.kind === 'gone') return { status: 'disabled', at: null };
  if (verdict.kind === 'permanent') return { status: 'failed', at: null };
  const delay = nextAttemptDelay({
    scheduleMs: config.retryScheduleMs,
    runAttempts,
    retryAfterMs: verdict.retryAfterMs,
    retryAfterMaxMs: config.retryAfterMaxMs,
  });
  if (delay === undefined) return { status: 'dead', at: null };
  return { status: 'pending', at: new Date(finishedAt.getTime() + delay) };
}
