import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { useRedis } from '../fixtures/redis.ts';
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

    const ticks = (await r.redis.lrange(`${r.prefix}:test:ticks`, 0, -1)).map((line) => {
      const [id = '', , pid] = line.split('|');
      // Scheduler job ids end in the millisecond the run was scheduled for.
      return { id, at: Number(id.split(':').at(-1)), pid };
    });
    // Exactly once: no job id twice, and no two runs less than a period apart.
    expect(new Set(ticks.map((t) => t.id)).size).toBe(ticks.length);
    const times = ticks.map((t) => t.at).sort((a, b) => a - b);
    const gaps = times.slice(1).map((t, i) => t - (times[i] ?? 0));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(1_000);
    // Once per period while any worker ran: at most one per elapsed second, and most of them.
    expect(ticks.length).toBeLessThanOrEqual(Math.ceil(elapsedS) + 1);
    expect(ticks.length).toBeGreaterThanOrEqual(6);
    // The work spread over the fleet rather than each worker firing its own timer.
    expect(new Set(ticks.map((t) => t.pid)).size).toBeGreaterThan(1);
  }, 60_000);
});
