import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import type { SpawnedProcess } from '../fixtures/processes.ts';
import { useRedis } from '../fixtures/redis.ts';
import { readTicks } from '../fixtures/test-jobs.ts';
import { startTestWorker, stopWorker } from '../fleet/worker-fixture.ts';

// RELIABILITY.md: "three workers upserting schedules through 20 restarts (one run per period)".
// Every worker upserts the job schedulers at boot; a rolling restart — one of three replaced at a
// time, alternately stopped gracefully and killed with SIGKILL — must neither double a period's
// run nor lose the schedule. test/fleet/schedules.test.ts covers one restart in `npm test`.
describe('a schedule that fires every second, three workers, 20 rolling restarts', () => {
  const r = useRedis();
  const running: SpawnedProcess[] = [];

  afterAll(async () => {
    await Promise.all(running.map((w) => stopWorker(w, 5_000)));
  });

  it('runs once per period, never twice, and keeps running', async () => {
    const env = { QUEUE_PREFIX: r.prefix, WORKER_QUEUES: 'tick' };
    const startedAt = Date.now();
    running.push(...(await Promise.all([1, 2, 3].map((n) => startTestWorker(`worker-${n}`, env)))));
    for (let restart = 1; restart <= 20; restart++) {
      await sleep(1_500);
      const old = running.shift() as SpawnedProcess;
      if (restart % 2 === 0) {
        old.kill('SIGKILL');
        await old.exited;
      } else {
        await stopWorker(old);
      }
      running.push(await startTestWorker(`worker-${restart + 3}`, env));
    }
    await sleep(2_000);
    const stoppedAt = Date.now();
    await Promise.all(running.splice(0).map((w) => stopWorker(w)));

    const { ticks, gaps } = await readTicks(r.redis, r.prefix);
    // Never twice: no job id twice, no two runs less than a period apart.
    expect(new Set(ticks.map((t) => t.id)).size).toBe(ticks.length);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(1_000);
    // Kept running: at most one run per elapsed second, and no silence longer than a killed
    // worker's job lock (a run taken by a worker killed with SIGKILL waits out its 30 s lock,
    // but the next periods are scheduled and run by the others meanwhile).
    const elapsedS = (stoppedAt - startedAt) / 1000;
    expect(ticks.length).toBeLessThanOrEqual(Math.ceil(elapsedS) + 1);
    expect(Math.max(...gaps)).toBeLessThan(10_000);
    expect(ticks.length).toBeGreaterThanOrEqual(Math.floor(elapsedS * 0.6));
    // The runs spread over the workers of the whole run, not one process's timer.
    expect(new Set(ticks.map((t) => t.pid)).size).toBeGreaterThan(5);
  }, 150_000);
});
