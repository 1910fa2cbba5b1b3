import type { Job } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { useRedis } from '../../test/fixtures/redis.ts';
import { devKeyring } from '../../test/fixtures/secrets.ts';
import { OpenResources, startRecordingReceiver } from '../../test/fixtures/webhook-servers.ts';
import { attempts, delivery, webhookKey } from '../../test/fixtures/webhook-worker.ts';
import { attemptDelivery } from './attempt.ts';
import type { DispatchDeps } from './dispatch.ts';
import { enqueueWebhook } from './enqueue.ts';
import { createWebhookHttpClient, type WebhookHttpClient } from './http/safe-fetch.ts';
import type { Enqueue } from './queue.ts';
import { replayDeliveries } from './replay.ts';

// The service under the job, without a queue: what it does when a job runs at the wrong time.
const open = new OpenResources();
afterEach(() => open.closeAll());

/** What enqueueWebhook needs, over this test's Redis prefix and `enqueue`. */
const dispatchDeps = (
  db: DispatchDeps['db'],
  r: ReturnType<typeof useRedis>,
  enqueue: Enqueue,
): DispatchDeps => ({
  db,
  enqueue,
  redis: r.redis,
  config: { queuePrefix: r.prefix, webhooks: { endpointConcurrency: 10 } },
});

describe('one delivery attempt', () => {
  const database = useTestDatabase();
  const r = useRedis();
  let client: WebhookHttpClient;
  beforeAll(() => {
    client = createWebhookHttpClient({ allowHttp: true, allowList: ['127.0.0.1'] });
  });
  afterAll(() => client.close());

  const queued: { payload: unknown; jobId: string | undefined }[] = [];
  const enqueue: Enqueue = async (_definition, payload, options) => {
    queued.push({ payload, jobId: options?.jobId });
    return {} as Job;
  };
  const config = {
    retryScheduleMs: [0, 60_000],
    retryAfterMaxMs: 3_600_000,
    disableAfterMs: 5 * 86_400_000,
  };
  const attempt = (deliveryId: string, run = 0, signal?: AbortSignal) =>
    attemptDelivery(
      { db: database.db, client, config, keyring: devKeyring() },
      { deliveryId, run, signal },
    );
  const receiver = async (status = 200) =>
    open.track(await startRecordingReceiver((_req, res) => res.writeHead(status).end()));
  let n = 0;
  const create = async (url: string, apiKeyId?: string) =>
    enqueueWebhook(dispatchDeps(database.db, r, enqueue), {
      apiKeyId: apiKeyId ?? (await webhookKey(database.db)).id,
      jobId: `generate.attempt.${++n}`,
      url,
      event: { type: 'generation.completed', result: 'ok' },
    });

  it('records a retry with its due time, and sends nothing when woken before it', async () => {
    const hooks = await receiver(503);
    const { id } = await create(hooks.url);

    const first = await attempt(id);
    const early = await attempt(id);

    expect(first).toMatchObject({ outcome: 'retry', attempt: 1, statusCode: 503 });
    const due = (await delivery(database.db, id)).next_attempt_at;
    expect(due?.getTime()).toBeGreaterThan(Date.now() + 55_000);
    expect(early).toEqual({ outcome: 'not-due', nextAttemptAt: due });
    expect(hooks.requests).toHaveLength(1);
  });

  it('sends nothing for a job of a run that a replay has replaced', async () => {
    const hooks = await receiver(503);
    const { id } = await create(hooks.url);
    await attempt(id);

    const jobsBefore = queued.length;

    const [replayed] = await replayDeliveries({ db: database.db }, [id]);
    // A replay writes Postgres only: the new run waits, due now, for the dispatcher.
    expect(await delivery(database.db, id)).toMatchObject({ run: 1, run_attempts: 0 });
    expect((await delivery(database.db, id)).next_attempt_at?.getTime()).toBeLessThanOrEqual(
      Date.now(),
    );
    expect(queued).toHaveLength(jobsBefore);
    const stale = await attempt(id, 0);
    const current = await attempt(id, 1);

    expect(replayed).toEqual({ id, run: 1, previousStatus: 'pending' });
    expect(stale).toEqual({ outcome: 'stale' });
    expect(current).toMatchObject({ outcome: 'retry', attempt: 2 });
    expect(hooks.requests).toHaveLength(2);
  });

  it('records nothing when the worker shuts down mid-request: the job is handed back', async () => {
    const hooks = open.track(await startRecordingReceiver(() => {}));
    const { id } = await create(hooks.url);
    const controller = new AbortController();

    const pending = attempt(id, 0, controller.signal);
    await expect.poll(() => hooks.requests.length).toBe(1);
    controller.abort(new Error('worker shutting down'));

    await expect(pending).rejects.toThrow('worker shutting down');
    expect(await delivery(database.db, id)).toMatchObject({ status: 'pending', attempts: 0 });
    expect(await attempts(database.db, id)).toEqual([]);
  });

  it('records what Postgres text cannot hold: NUL, quotes, braces, backslashes', async () => {
    const odd = 'a "quoted", {braced} \\ back\u0000slash \ud800';
    const hooks = open.track(
      await startRecordingReceiver((_req, res) => res.writeHead(500).end(odd)),
    );
    const key = await webhookKey(database.db);
    const { id } = await enqueueWebhook(dispatchDeps(database.db, r, enqueue), {
      apiKeyId: key.id,
      jobId: 'generate.odd.1',
      url: hooks.url,
      event: { type: 'generation.completed', metadata: { note: odd } },
    });

    expect(await attempt(id)).toMatchObject({ outcome: 'retry', attempt: 1 });
    const [recorded] = await attempts(database.db, id);
    expect(recorded?.error).toBe('HTTP 500: a "quoted", {braced} \\ back\uFFFDslash \uFFFD');
    expect((await delivery(database.db, id)).payload).toMatchObject({
      data: { metadata: { note: 'a "quoted", {braced} \\ back\uFFFDslash \uFFFD' } },
    });
  });

  it('fails without an attempt when the key (and its secret) was deleted', async () => {
    const hooks = await receiver();
    const key = await webhookKey(database.db);
    const { id } = await create(hooks.url, key.id);
    await database.db.deleteFrom('api_keys').where('id', '=', key.id).execute();

    expect(await attempt(id)).toEqual({ outcome: 'failed', attempted: false });
    expect(await delivery(database.db, id)).toMatchObject({ status: 'failed', attempts: 0 });
    expect(hooks.requests).toHaveLength(0);
  });
});

describe('enqueueWebhook', () => {
  const database = useTestDatabase();
  const r = useRedis();

  it('queues the delivery when called again after a crash between the row and the job', async () => {
    const key = await webhookKey(database.db);
    const input = {
      apiKeyId: key.id,
      jobId: 'generate.crash.1',
      url: 'https://receiver.example/hooks',
      event: { type: 'generation.completed' as const },
    };
    const down: Enqueue = async () => {
      throw new Error('Connection is closed.');
    };
    const jobIds: (string | undefined)[] = [];
    const up: Enqueue = async (_d, _p, options) => {
      jobIds.push(options?.jobId);
      return {} as Job;
    };

    await expect(enqueueWebhook(dispatchDeps(database.db, r, down), input)).rejects.toThrow();
    const retried = await enqueueWebhook(dispatchDeps(database.db, r, up), input);

    expect(retried).toEqual({ id: expect.stringMatching(/^msg_/), created: false, queued: true });
    expect(jobIds).toEqual([retried.id]);
    expect(await delivery(database.db, retried.id)).toMatchObject({
      status: 'pending',
      event_type: 'generation.completed',
      job_id: 'generate.crash.1',
      url: 'https://receiver.example/hooks',
    });
  });
});
