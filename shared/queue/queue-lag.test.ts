import { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { useRedis } from '../../test/fixtures/redis.ts';
import { createWorkerMetrics } from '../metrics/registry.ts';
import { oldestWaitingMs } from './queue-lag.ts';

describe('oldestWaitingMs', () => {
  const r = useRedis();

  it('is the age of the oldest job waiting, prioritized ones included, delayed ones not yet', async () => {
    const queue = new Queue('lagging', { connection: r.redis, prefix: r.prefix });
    try {
      expect(await oldestWaitingMs(queue)).toBe(0);
      const first = await queue.add('lagging', {}, { priority: 5 });
      await queue.add('lagging', {});
      await queue.add('lagging', {}, { delay: 60_000 });
      expect(await oldestWaitingMs(queue, first.timestamp + 5_000)).toBe(5_000);

      const metrics = createWorkerMetrics();
      metrics.watch([queue]);
      const text = await metrics.registry.metrics();
      const seconds = Number(
        /lowburn_queue_oldest_waiting_seconds\{queue="lagging"\} (\S+)/.exec(text)?.[1],
      );
      expect(seconds).toBeGreaterThanOrEqual(0);
      expect(seconds).toBeLessThan(60);
    } finally {
      await queue.close();
    }
  });
});
