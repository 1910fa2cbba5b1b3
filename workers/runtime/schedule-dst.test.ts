import { defaultRepeatStrategy, Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { precomputeCacheJob } from '../../jobs/precompute-cache/index.ts';
import { createLogger } from '../../shared/log/logger.ts';
import { testConfig } from '../../test/fixtures/config.ts';
import { useRedis } from '../../test/fixtures/redis.ts';
import { syncSchedulers } from './schedulers.ts';

/** The local wall-clock time of `ms` in `tz`, as `YYYY-MM-DD HH:mm`. */
const local = (ms: number, tz: string) =>
  new Date(ms).toLocaleString('sv-SE', { timeZone: tz }).slice(0, 16);

/**
 * The nightly precompute (PRECOMPUTE_CRON, 03:00 by default) in SCHEDULE_TZ across the 2027 clock changes: the scheduler is stored with the
 * zone, and the next runs BullMQ computes from it (its own repeat strategy, what the scheduler
 * uses) are one a day at 03:00 local — never two on the night the clocks go back, never none on
 * the night they go forward.
 */
describe('the 03:00 precompute across daylight-saving changes', () => {
  const r = useRedis();

  it.each([
    ['Europe/Berlin', '2027-03-26', '2027-03-28'],
    ['Europe/Berlin', '2027-10-29', '2027-10-31'],
    ['America/New_York', '2027-03-12', '2027-03-14'],
    ['America/New_York', '2027-11-05', '2027-11-07'],
  ])('%s from %s: one run a day at 03:00, the change on %s included', async (tz, from, change) => {
    await syncSchedulers({
      connection: r.redis,
      prefix: r.prefix,
      jobs: [precomputeCacheJob],
      config: testConfig({ SCHEDULE_TZ: tz }),
      log: createLogger({ level: 'silent' }),
    });
    const queue = new Queue('precompute-cache', { connection: r.redis, prefix: r.prefix });
    try {
      const stored = await queue.getJobScheduler('precompute-cache');
      expect(stored).toMatchObject({ pattern: '0 3 * * *', tz });
      const runs: number[] = [];
      let at = Date.parse(`${from}T12:00:00Z`);
      for (let i = 0; i < 4; i++) {
        at =
          defaultRepeatStrategy(at, { pattern: stored?.pattern ?? '', tz: stored?.tz ?? '' }) ?? 0;
        runs.push(at);
      }
      const days = runs.map((ms) => local(ms, tz));
      expect(days.map((d) => d.slice(11))).toEqual(['03:00', '03:00', '03:00', '03:00']);
      expect(new Set(days.map((d) => d.slice(0, 10))).size).toBe(4);
      expect(days.map((d) => d.slice(0, 10))).toContain(change);
      // Consecutive runs are a day apart, give or take the hour the clocks moved.
      for (let i = 1; i < runs.length; i++) {
        expect(Math.abs((runs[i] ?? 0) - (runs[i - 1] ?? 0) - 86_400_000)).toBeLessThanOrEqual(
          3_600_000,
        );
      }
    } finally {
      await queue.close();
    }
  });
});
