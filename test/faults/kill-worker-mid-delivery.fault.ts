import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApiKey } from '../../shared/api-keys/api-keys.ts';
import { Queues } from '../../shared/queue/queues.ts';
import { enqueueWebhook } from '../../shared/webhooks/enqueue.ts';
import { deliverWebhookQueue } from '../../shared/webhooks/queue.ts';
import { useTestDatabase } from '../fixtures/postgres.ts';
import { type SpawnedProcess, spawnNode } from '../fixtures/processes.ts';
import { deletePrefix, randomPrefix } from '../fixtures/redis.ts';
import { devKeyring } from '../fixtures/secrets.ts';
import { startRecordingReceiver } from '../fixtures/webhook-servers.ts';
import { attempts, delivery, settled } from '../fixtures/webhook-worker.ts';

/** What the receiver did with each request it got. */
interface Answer {
  /** The request's 0-based number. */
  n: number;
  /** The signature checked out with the official `standardwebhooks` package. */
  verified: boolean;
  /** The status sent back; `undefined` while held open, or when it never got one. */
  status?: number;
  /** `Date.now()` when the answer was sent. */
  at?: number;
  /** The connection closed before an answer was sent. */
  droppedUnanswered?: boolean;
}

describe('kill -9 a worker in the middle of a webhook delivery', () => {
  const database = useTestDatabase();
  const prefix = randomPrefix();
  let redis: Redis;
  const workers: SpawnedProcess[] = [];

  beforeAll(() => {
    redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    for (const w of workers) if (w.child.exitCode === null && !w.child.killed) w.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await deletePrefix(redis, prefix);
    await redis?.quit();
  });

  const startWorker = async (name: string) => {
    const worker = spawnNode(name, 'workers/cli.ts', ['worker'], {
      NODE_ENV: 'test',
      // debug: the runtime logs `job completed` with the job id, which says who finished it.
      LOG_LEVEL: 'debug',
      DATABASE_URL: database.url,
      REDIS_URL: inject('redisUrl'),
      QUEUE_PREFIX: prefix,
      WORKER_QUEUES: 'deliver-webhook',
      HEALTH_PORT: '0',
      STORAGE_URL: `file:${mkdtempSync(path.join(tmpdir(), 'lowburn-fault-'))}`,
      WEBHOOK_ALLOW_LIST: '127.0.0.1/32',
      WEBHOOK_ALLOW_HTTP: 'true',
    });
    workers.push(worker);
    await worker.waitFor('"worker ready"', 30_000);
    return worker;
  };

  /** The JSON log lines of a worker saying it completed job `jobId`. */
  const completions = (worker: SpawnedProcess, jobId: string) =>
    worker
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg?: string; jobId?: string })
      .filter((entry) => entry.msg === 'job completed' && entry.jobId === jobId);

  it('delivers once on another worker: same webhook-id, one verified 2xx, one ledger attempt', async () => {
    const { id: apiKeyId, webhookSecret } = await createApiKey(
      database.db,
      {
        name: 'fault',
        scopes: ['generate'],
      },
      devKeyring(),
    );
    const verifier = new Webhook(webhookSecret);
    // A real receiver: it answers 200 to what verifies, 401 to what does not, and holds the
    // first request open without a word, so that attempt is in flight when its worker dies.
    const answers: Answer[] = [];
    const hooks = await startRecordingReceiver((req, res, n) => {
      const request = hooks.requests[n];
      let verified = false;
      try {
        verifier.verify(request?.body ?? '', req.headers as Record<string, string>);
        verified = true;
      } catch {}
      const answer: Answer = { n, verified };
      answers.push(answer);
      res.on('close', () => {
        if (!res.headersSent) answer.droppedUnanswered = true;
      });
      if (n === 0) return;
      answer.status = verified ? 200 : 401;
      answer.at = Date.now();
      res.writeHead(answer.status).end();
    });
    const queues = new Queues({ connection: redis, prefix });
    try {
      const doomed = await startWorker('worker A');
      const enqueued = await enqueueWebhook(
        {
          db: database.db,
          enqueue: (d, p, o) => queues.add(d, p, o),
          redis,
          config: { queuePrefix: prefix, webhooks: { endpointConcurrency: 10 } },
        },
        {
          apiKeyId,
          jobId: 'generate.fault.kill-mid-delivery',
          url: hooks.url,
          event: { type: 'generation.completed', result: { text: 'night shift summary' } },
        },
      );
      const deadline = Date.now() + 15_000;
      while (hooks.requests.length === 0 && Date.now() < deadline) await sleep(20);
      expect(hooks.requests).toHaveLength(1);

      doomed.kill('SIGKILL');
      expect(await doomed.exited).toMatchObject({ signal: 'SIGKILL' });
      const killedAt = Date.now();
      // Nothing was recorded for the attempt in flight: an attempt is written when it ends.
      expect(await delivery(database.db, enqueued.id)).toMatchObject({
        status: 'pending',
        attempts: 0,
      });

      // The survivor finds the job stalled once its lock (30 s) lapses, and runs it.
      const survivor = await startWorker('worker B');
      const row = await settled(database.db, enqueued, undefined, { timeoutMs: 120_000 });
      // Anything a second run of the job would send (a duplicate) has time to arrive.
      await sleep(3_000);

      expect(row).toMatchObject({
        status: 'succeeded',
        run: 0,
        attempts: 1,
        run_attempts: 1,
        last_status_code: 200,
        last_error: null,
      });
      expect(row.delivered_at).toBeInstanceOf(Date);
      expect(await delivery(database.db, enqueued.id)).toEqual(row);
      expect(await attempts(database.db, enqueued.id)).toEqual([
        expect.objectContaining({ attempt: 1, status_code: 200, error: null }),
      ]);

      // The receiver: the held request died with worker A unanswered; one verified 2xx after
      // the kill; every request the same webhook-id, each signed afresh.
      expect(hooks.requests.map((r) => r.headers['webhook-id'])).toEqual([
        enqueued.id,
        enqueued.id,
      ]);
      expect(answers).toEqual([
        { n: 0, verified: true, droppedUnanswered: true },
        { n: 1, verified: true, status: 200, at: expect.any(Number) },
      ]);
      expect(answers[1]?.at).toBeGreaterThan(killedAt);
      expect(hooks.requests[1]?.body).toBe(hooks.requests[0]?.body);

      // The job: recovered from the stall, completed once, by worker B.
      const job = await queues.get(deliverWebhookQueue).getJob(enqueued.id);
      expect(await job?.getState()).toBe('completed');
      expect(job?.stalledCounter).toBe(1);
      expect(job?.returnvalue).toEqual({
        outcome: 'succeeded',
        attempt: 1,
        statusCode: 200,
        reason: expect.any(String),
      });
      expect(completions(survivor, enqueued.id)).toHaveLength(1);
      expect(completions(doomed, enqueued.id)).toHaveLength(0);
    } finally {
      await queues.close();
      await hooks.close();
    }
  });
});
