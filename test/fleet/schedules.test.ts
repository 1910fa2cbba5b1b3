import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { useRedis } from '../fixtures/redis.ts';
import { readTicks } from '../fixtures/test-jobs.ts';
import { startTestWorker, stopWorker } from './worker-fixture.ts';

describe('a schedule that fires every second, with three worker processes', () => {
  const r = useRedis();

  it('runs exactly once per period, through a restart of every worker', async () => {
    const env = { QUEUE_PREFIX: r.prefix, WORKER_QUEUES: 'tick' };
    const start = () => Promise.all([1, 2, 3].map((n) => startTestWorker(`worker-${n}`, env)));

    const startedAt = Date.now();
    let workers = await start();
    await sleep(4_000);
    await Promise.all(workers.map((w) => stopWorker(w)));
    workers = await start();
    await sleep(4_000);
    await Promise.all(workers.map((w) => stopWorker(w)));
    const elapsedS = (Date.now() - startedAt) / 1000;

    const { ticks, gaps } = await readTicks(r.redis, r.prefix);
    // Exactly once: no job id twice, and no two runs less than a period apart.
    expect(new Set(ticks.map((t) => t.id)).size).toBe(ticks.length);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(1_000);
    // Once per period while any worker ran: at most one per elapsed second, and most of them.
    expect(ticks.length).toBeLessThanOrEqual(Math.ceil(elapsedS) + 1);
    expect(ticks.length).toBeGreaterThanOrEqual(6);
    // The work spread over the fleet rather than each worker firing its own timer.
    expect(new Set(ticks.map((t) => t.pid)).size).toBeGreaterThan(1);
  }, 60_000);
});
