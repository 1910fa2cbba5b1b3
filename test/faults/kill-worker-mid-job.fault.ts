import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApiKey } from '../../shared/api-keys/api-keys.ts';
import { generateQueue } from '../../shared/generation/queue.ts';
import { Queues } from '../../shared/queue/queues.ts';
import { type ModelTestServer, startOllamaServer } from '../fixtures/model-servers.ts';
import { useTestDatabase } from '../fixtures/postgres.ts';
import { type SpawnedProcess, spawnNode } from '../fixtures/processes.ts';
import { deletePrefix, randomPrefix } from '../fixtures/redis.ts';
import { devKeyring } from '../fixtures/secrets.ts';

describe('kill -9 a worker in the middle of a generation', () => {
  const database = useTestDatabase();
  const prefix = randomPrefix();
  let ollama: ModelTestServer;
  let redis: Redis;
  const workers: SpawnedProcess[] = [];

  beforeAll(async () => {
    ollama = await startOllamaServer();
    redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    for (const w of workers) if (w.child.exitCode === null && !w.child.killed) w.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await ollama?.close();
    await deletePrefix(redis, prefix);
    await redis?.quit();
  });

  const startWorker = async (name: string) => {
    const worker = spawnNode(name, 'workers/cli.ts', ['worker'], {
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      DATABASE_URL: database.url,
      REDIS_URL: inject('redisUrl'),
      QUEUE_PREFIX: prefix,
      WORKER_QUEUES: 'generate',
      OLLAMA_URL: ollama.url,
      HEALTH_PORT: '0',
      STORAGE_URL: `file:${mkdtempSync(path.join(tmpdir(), 'lowburn-fault-'))}`,
    });
    workers.push(worker);
    await worker.waitFor('"worker ready"', 30_000);
    return worker;
  };

  it('completes the job exactly once on another worker: one row, one webhook', async () => {
    // The first model call never answers: the job is in flight when its worker dies.
    let calls = 0;
    ollama.handle((call) =>
      call.path === '/api/chat' && ++calls === 1 ? { hang: true } : undefined,
    );
    const doomed = await startWorker('worker A');
    const { id: apiKeyId } = await createApiKey(
      database.db,
      { name: 'fault', scopes: 'generate' },
      devKeyring(),
    );
    const queues = new Queues({ connection: redis, prefix });
    const eventsConnection = redis.duplicate();
    const events = new QueueEvents('generate', { connection: eventsConnection, prefix });
    try {
      await events.waitUntilReady();
      const job = await queues.add(generateQueue, {
        apiKeyId,
        userId: 'fault-user',
        taskType: 'summary',
        prompt: 'Summarise the night shift report',
        webhookUrl: 'https://hooks.example.com/lowburn',
      });
      const deadline = Date.now() + 15_000;
      while (ollama.callsTo('/api/chat').length === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(ollama.callsTo('/api/chat')).toHaveLength(1);
      doomed.kill('SIGKILL');
      expect(await doomed.exited).toMatchObject({ signal: 'SIGKILL' });

      // The survivor finds the job stalled once its lock (30 s) lapses, and runs it.
      await startWorker('worker B');
      const result = await job.waitUntilFinished(events, 120_000);
      expect(result).toMatchObject({ source: 'local' });

      const rows = await database.db
        .selectFrom('generations')
        .selectAll()
        .where('id', '=', job.id ?? '')
        .execute();
      expect(rows).toEqual([
        expect.objectContaining({ status: 'completed', response: result.answer }),
      ]);
      const deliveries = await database.db
        .selectFrom('webhook_deliveries')
        .select(['event_type', 'status'])
        .where('job_id', '=', job.id ?? '')
        .execute();
      expect(deliveries).toEqual([{ event_type: 'generation.completed', status: 'pending' }]);
      expect(ollama.callsTo('/api/chat')).toHaveLength(2);
    } finally {
      await queues.close();
      await events.close();
      await eventsConnection.quit();
    }
  });
});
