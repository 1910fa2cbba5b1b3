import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { useRedis } from '../fixtures/redis.ts';
import { startTestWorker, stopWorker } from './worker-fixture.ts';

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(50);
  }
}

describe('SIGTERM during a job', () => {
  const r = useRedis();
  let queue: Queue | undefined;
  afterEach(async () => {
    await queue?.close();
  });

  const counter = async (key: string, what: 'started' | 'completed') =>
    Number((await r.redis.get(`${r.prefix}:test:${key}:${what}`)) ?? 0);

  it('lets a job that fits in the grace period finish, then exits 0', async () => {
    queue = new Queue('slow', { connection: r.redis, prefix: r.prefix });
    const worker = await startTestWorker('a', {
      QUEUE_PREFIX: r.prefix,
      WORKER_QUEUES: 'slow',
      SHUTDOWN_GRACE: '10s',
    });
    const job = await queue.add('slow', { ms: 1_500, key: 'short' });
    await waitUntil(async () => (await counter('short', 'started')) === 1);
    const exit = await stopWorker(worker);

    expect(exit.code).toBe(0);
    expect(await counter('short', 'completed')).toBe(1);
    expect(await (await queue.getJob(job.id!))?.getState()).toBe('completed');
  }, 60_000);

  it('hands a job that outlasts the grace period back, and another worker completes it once', async () => {
    queue = new Queue('slow', { connection: r.redis, prefix: r.prefix });
    const env = { QUEUE_PREFIX: r.prefix, WORKER_QUEUES: 'slow', SHUTDOWN_GRACE: '500ms' };
    const first = await startTestWorker('first', env);
    const job = await queue.add('slow', { ms: 4_000, key: 'long' });
    await waitUntil(async () => (await counter('long', 'started')) === 1);
    const exit = await stopWorker(first);
    expect(exit.code).toBe(0);
    expect(first.output()).toContain('handed back to the queue on shutdown');
    expect(await (await queue.getJob(job.id!))?.getState()).toBe('waiting');
    expect(await counter('long', 'completed')).toBe(0);

    const second = await startTestWorker('second', env);
    await waitUntil(async () => (await counter('long', 'completed')) === 1);
    await stopWorker(second);

    expect(await counter('long', 'started')).toBe(2);
    expect(await counter('long', 'completed')).toBe(1);
    const finished = await queue.getJob(job.id!);
    expect(await finished?.getState()).toBe('completed');
    // Handing back is not a failed attempt: only the completing attempt counts.
    expect(finished?.attemptsMade).toBe(1);
  }, 60_000);
});
