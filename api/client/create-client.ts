import type { GenerateRequest } from '../../shared/generation/schema.ts';
import type {
  Accepted,
  ErasureAccepted,
  JobStatus,
  PipelineRunRequest,
  TelemetryAccepted,
  WebhookReplay,
} from '../schemas.ts';
import { sendTelemetry, type TelemetryPingInput } from './send-telemetry.ts';
import { createTransport } from './transport.ts';
import { type WaitOptions, waitForJob } from './wait-for-job.ts';

/** Options of {@link createClient}. */
export interface LowburnClientOptions {
  /** Where the API is served, e.g. `https://jobs.example.com`; a path prefix is kept. */
  baseUrl: string | URL;
  /** A lowburn API key (`lb_…`), sent as `Authorization: Bearer …`. Keep it server-side. */
  apiKey: string;
  /**
   * The fetch to use (a traced or mocked one, or a polyfill).
   * @defaultValue the global `fetch`, looked up at each call
   */
  fetch?: typeof fetch;
  /**
   * How long one attempt may take, answer body included; a slow attempt counts as a lost one.
   * @defaultValue 10_000
   */
  timeoutMs?: number;
  /**
   * Retries after the first attempt, for a lost or slow answer and for 429/503 (after their
   * `Retry-After` when it is at most 10 s), with jittered exponential backoff.
   * @defaultValue 2
   */
  retries?: number;
}

export interface RequestOptions {
  signal?: AbortSignal;
}

export interface CreateGenerationOptions extends RequestOptions {
  /**
   * Makes the request safe to repeat: the API answers every request with this key (for the same
   * body) with the first one's job. When omitted, the client generates one per `create` call,
   * so its own retries never enqueue twice; pass your own to also cover retries of your own.
   */
  idempotencyKey?: string;
}

export interface LowburnClient {
  generations: {
    /** Queues a generation: `POST /v1/generations`. Resolves once queued (202). */
    create(request: GenerateRequest, options?: CreateGenerationOptions): Promise<Accepted>;
  };
  jobs: {
    /** One status read: `GET /v1/jobs/:id`. Another key's job is a 404, like an unknown one. */
    get(id: string, options?: RequestOptions): Promise<JobStatus>;
    /**
     * Polls until the job is `completed` or `failed` and returns that status (a failed job does not
     * throw: read `status` and `error`). Rejects with a `LowburnTimeoutError` after `timeoutMs`.
     */
    wait(id: string, options: WaitOptions): Promise<JobStatus>;
  };
  pipelines: {
    /**
     * Starts a pipeline run: `POST /v1/pipelines/:name/runs` (admin keys only). Not retried after
     * a lost answer, which may have started the run; 429/503 are retried.
     */
    run(
      name: string,
      payload?: PipelineRunRequest['payload'],
      options?: RequestOptions,
    ): Promise<Accepted>;
  };
  telemetry: {
    /**
     * Buffers device pings: `POST /v1/telemetry` (a key with the `telemetry` scope), split into
     * requests of at most 1,000, sent one after another; a request refused as too large (413)
     * is sent again in halves. Pings without a `pingId` get one
     * (`crypto.randomUUID()`) before the first attempt, so retries (lost answers, 429, 503 while
     * the buffer is full) resend the same ids and each ping is stored once. Resolves with the
     * number of pings accepted; they reach Postgres within one flush period.
     *
     * One invalid ping rejects its whole request with a `LowburnApiError` (422) whose `details`
     * list every problem by `index` (within that request) and `field`. Requests before it were
     * accepted: to resend everything safely, give the pings your own `pingId`s.
     *
     * @example
     * ```ts
     * await lowburn.telemetry.send([
     *   { deviceId: 'd-1', ts: new Date().toISOString(), metric: 'battery.pct', value: 87 },
     * ]);
     * ```
     */
    send(
      pings: readonly TelemetryPingInput[],
      options?: RequestOptions,
    ): Promise<TelemetryAccepted>;
  };
  webhooks: {
    /**
     * Sends a webhook delivery again (admin keys only): `POST /v1/webhooks/:id/replay`. Same
     * `webhook-id` and body, a new signature, a fresh retry schedule from an immediate attempt;
     * resolves once the new run is queued, with the status the delivery had before. Replaying a
     * `disabled` delivery re-enables its URL for its key. An unknown (or pruned) id is a 404.
     *
     * Not retried after a lost answer: the replay may have happened, and a second one would start
     * yet another run. 429/503 are retried (the API did nothing, or left the delivery for
     * another replay to queue).
     *
     * @example
     * ```ts
     * const { run, previousStatus } = await lowburn.webhooks.replay('msg_0123…');
     * ```
     */
    replay(id: string, options?: RequestOptions): Promise<WebhookReplay>;
  };
  users: {
    /**
     * Erases a user (admin keys only): `DELETE /v1/users/:userId`. Their hot rows, webhook
     * payloads, idempotency records and cached answers go within minutes; their cold files when
     * the cold side next runs. Resolves once the erasure is recorded and queued, with its id.
     * Asking again returns the same erasure, so a lost answer is retried safely.
     *
     * @example
     * ```ts
     * const { id, jobId } = await lowburn.users.erase(user.id, { devices: ['tablet-7'] });
     * ```
     */
    erase(
      userId: string,
      options?: RequestOptions & { devices?: readonly string[] },
    ): Promise<ErasureAccepted>;
  };
}

/** `setTimeout` fires at once for delays above 2^31 − 1 ms (~24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

function checkDuration(name: string, ms: number): number {
  if (!(Number.isFinite(ms) && ms > 0 && ms <= MAX_TIMER_MS)) {
    throw new RangeError(`${name} must be a number of milliseconds in (0, ${MAX_TIMER_MS}]`);
  }
  return ms;
}

function segment(name: string, value: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new TypeError(`${name} must be a non-empty string`);
  }
  return encodeURIComponent(value);
}

/**
 * A client for the lowburn API that runs anywhere `fetch` does: Node, Next.js edge and
 * serverless functions, Cloudflare Workers, Deno, Bun. Every failure is typed:
 * `LowburnApiError` (the API said no), `LowburnNetworkError` (no answer) or `LowburnTimeoutError`.
 *
 * @example
 * ```ts
 * import { createClient } from 'lowburn/client';
 *
 * const lowburn = createClient({
 *   baseUrl: 'https://jobs.example.com',
 *   apiKey: process.env.LOWBURN_API_KEY!,
 * });
 * const { id } = await lowburn.generations.create({
 *   userId: user.id,
 *   taskType: 'summary',
 *   prompt: `Summarise: ${text}`,
 * });
 * const job = await lowburn.jobs.wait(id, { timeoutMs: 30_000 });
 * if (job.status === 'failed') throw new Error(job.error ?? 'generation failed');
 * console.log(job.result);
 * ```
 */
export function createClient(options: LowburnClientOptions): LowburnClient {
  if (typeof options.apiKey !== 'string' || options.apiKey === '') {
    throw new TypeError('apiKey is required (a lowburn API key, lb_…)');
  }
  const baseUrl = new URL(options.baseUrl);
  if (!baseUrl.pathname.endsWith('/')) baseUrl.pathname += '/';
  const retries = options.retries ?? 2;
  if (!(Number.isInteger(retries) && retries >= 0)) {
    throw new RangeError('retries must be a whole number ≥ 0');
  }
  const send = createTransport({
    baseUrl,
    apiKey: options.apiKey,
    fetch: options.fetch ?? ((input, init) => fetch(input, init)),
    timeoutMs: checkDuration('timeoutMs', options.timeoutMs ?? 10_000),
    retries,
  });

  const getJob = async (id: string, signal?: AbortSignal) =>
    send<JobStatus>({
      method: 'GET',
      path: `v1/jobs/${segment('id', id)}`,
      repeatable: true,
      signal,
    });

  return {
    generations: {
      async create(request, { idempotencyKey, signal } = {}) {
        return send<Accepted>({
          method: 'POST',
          path: 'v1/generations',
          body: request,
          // One key for all attempts of this call: a retry after a lost 202 gets the same job.
          headers: { 'idempotency-key': idempotencyKey ?? crypto.randomUUID() },
          repeatable: true,
          signal,
        });
      },
    },
    jobs: {
      get: (id, { signal } = {}) => getJob(id, signal),
      async wait(id, waitOptions) {
        segment('id', id);
        checkDuration('timeoutMs', waitOptions?.timeoutMs);
        checkDuration('pollIntervalMs', waitOptions.pollIntervalMs ?? 500);
        return waitForJob(getJob, id, waitOptions);
      },
    },
    pipelines: {
      async run(name, payload, { signal } = {}) {
        return send<Accepted>({
          method: 'POST',
          path: `v1/pipelines/${segment('name', name)}/runs`,
          body: payload === undefined ? {} : { payload },
          repeatable: false,
          signal,
        });
      },
    },
    telemetry: {
      send: (pings, { signal } = {}) => sendTelemetry(send, pings, { signal }),
    },
    webhooks: {
      async replay(id, { signal } = {}) {
        return send<WebhookReplay>({
          method: 'POST',
          path: `v1/webhooks/${segment('id', id)}/replay`,
          repeatable: false,
          signal,
        });
      },
    },
    users: {
      async erase(userId, { devices, signal } = {}) {
        return send<ErasureAccepted>({
          method: 'DELETE',
          path: `v1/users/${segment('userId', userId)}`,
          body: devices === undefined ? {} : { devices },
          repeatable: true,
          signal,
        });
      },
    },
  };
}
