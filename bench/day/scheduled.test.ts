import { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { jobs } from '../../jobs/index.ts';
import { createLogger } from '../../shared/log/logger.ts';
import { resolveSchedule } from '../../shared/queue/job-definition.ts';
import { testConfig } from '../../test/fixtures/config.ts';
import { useRedis } from '../../test/fixtures/redis.ts';
import { syncSchedulers } from '../../workers/runtime/schedulers.ts';
import { clockEnv } from './scheduled.ts';

describe("bench:day's clock", () => {
  const r = useRedis();

  it('puts every scheduled job of the catalog on the compressed clock, the nightly ones at their simulated times', async () => {
    const clock = {
      startedAtMs: Date.now() + 60_000,
      dayStartMs: Date.parse('2027-03-01T00:00:00Z'),
      compression: 288,
    };
    const config = testConfig(clockEnv(clock));
    expect(config.clock).toEqual({
      rate: 288,
      originMs: clock.dayStartMs,
      startedAtMs: clock.startedAtMs,
    });
    const catalog = Object.values(jobs);
    const { upserted } = await syncSchedulers({
      connection: r.redis,
      prefix: r.prefix,
      jobs: catalog,
      config,
      log: createLogger({ level: 'silent' }),
    });
    expect(upserted.sort()).toEqual(
      catalog
        .filter((job) => resolveSchedule(job, config))
        .map((job) => job.queue)
        .sort(),
    );
    // The first run of each nightly job is at its simulated time of the day.
    const simulated = (real: number) =>
      new Date(clock.dayStartMs + (real - clock.startedAtMs) * clock.compression).toISOString();
    const firstRun = async (name: string) => {
      const queue = new Queue(name, { connection: r.redis, prefix: r.prefix });
      try {
        return simulated((await queue.getJobScheduler(name))?.next ?? 0).slice(0, 16);
      } finally {
        await queue.close();
      }
    };
    expect(await firstRun('export-cold')).toBe('2027-03-01T00:30');
    expect(await firstRun('precompute-cache')).toBe('2027-03-01T03:00');
    expect(await firstRun('export-finetune')).toBe('2027-03-01T04:00');
    // The fleet boots ahead of the day (a real minute here: 4.8 simulated hours), so its first
    // rollup is the evening before, at :05.
    expect(await firstRun('rollup-usage')).toBe('2027-02-28T20:05');
  });
});
