import { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createLogger } from '../../shared/log/logger.ts';
import { defineCatalog, defineJob } from '../../shared/queue/job-definition.ts';
import { testConfig } from '../../test/fixtures/config.ts';
import { useJobWorker } from '../../test/fixtures/job-worker.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { useRedis } from '../../test/fixtures/redis.ts';
import { waitUntil } from '../../test/fixtures/wait-until.ts';
import { syncSchedulers } from './schedulers.ts';

const RATE = 720; // a day in 2 minutes, an hour in 5 s
const ORIGIN = Date.parse('2027-03-01T02:59:30Z');
const MIN = 60_000;

/** A test job on `cron` that records the scheduled slot (its job id) and when it ran. */
const recorder = <Q extends string>(queue: Q, cron: string) =>
  defineJob({
    queue,
    description: `test: runs at ${cron}`,
    schema: z.object({}).strict(),
    schedule: { cron, tz: 'UTC' },
    options: { attempts: 1 },
    async process(_payload, { job, deps }) {
      const list = `${deps.config.queuePrefix}:test:${queue}`;
      await deps.redis.rpush(list, `${job.id}|${Date.now()}`);
    },
  });

/** The runs `recorder` recorded: the scheduled real ms (from the job id) and the real ms it ran. */
async function runs(
  redis: { lrange(k: string, a: number, b: number): Promise<string[]> },
  key: string,
) {
  return (await redis.lrange(key, 0, -1)).map((line) => {
    const [id = '', ranAt = ''] = line.split('|');
    return { scheduled: Number(id.split(':').at(-1)), ranAt: Number(ranAt) };
  });
}

describe('the schedules on the compressed clock (CLOCK_RATE=720, a real worker)', () => {
  const database = useTestDatabase();
  // The clock's origin (02:59:30) is 10 real s after the worker is configured, so the worker has
  // booted (and synced its schedules) well before 03:00 simulated even on a loaded machine.
  let startedAt = 0;
  const atSimulated = (simulated: number) => startedAt + (simulated - ORIGIN) / RATE;
  const simulatedAt = (real: number) => ORIGIN + (real - startedAt) * RATE;
  const nightly = recorder('clock-nightly', '0 3 * * *'); // like the precompute
  const hourly = recorder('clock-hourly', '5 * * * *'); // like the rollup
  const w = useJobWorker(
    database,
    defineCatalog({ 'clock-nightly': nightly, 'clock-hourly': hourly }),
    () => {
      startedAt = Date.now() + 10_000;
      return {
        CLOCK_RATE: String(RATE),
        CLOCK_ORIGIN: new Date(ORIGIN).toISOString(),
        CLOCK_STARTED_AT: new Date(startedAt).toISOString(),
      };
    },
  );

  it('runs the 03:00 job once at 03:00 simulated, and next at 03:00 the next simulated day', async () => {
    const key = `${w.prefix}:test:clock-nightly`;
    await waitUntil(async () => (await w.redis.llen(key)) > 0, 30_000, 'the 03:00 run');
    const [run, ...more] = await runs(w.redis, key);
    expect(more).toEqual([]);
    // Scheduled at the real instant of 03:00 simulated, and run within 15 simulated minutes of it.
    const three = Date.parse('2027-03-01T03:00:00Z');
    expect(Math.abs((run?.scheduled ?? 0) - atSimulated(three))).toBeLessThanOrEqual(1);
    expect(Math.abs(simulatedAt(run?.ranAt ?? 0) - three)).toBeLessThanOrEqual(15 * MIN);

    // A second worker booting later upserts the same scheduler: still one run, and the next one
    // is tomorrow's 03:00 (two real minutes on), not a second run today.
    await syncSchedulers({
      connection: w.redis,
      prefix: w.prefix,
      jobs: [nightly, hourly],
      config: w.config,
      log: createLogger({ level: 'silent' }),
    });
    const queue = new Queue('clock-nightly', { connection: w.redis, prefix: w.prefix });
    try {
      const scheduler = await queue.getJobScheduler('clock-nightly');
      expect(scheduler).toMatchObject({ every: 86_400_000 / RATE });
      expect(
        Math.abs((scheduler?.next ?? 0) - atSimulated(three + 86_400_000)),
      ).toBeLessThanOrEqual(1);
      const delayed = await queue.getDelayed();
      expect(delayed.map((job) => job.id)).toEqual([`repeat:clock-nightly:${scheduler?.next}`]);
    } finally {
      await queue.close();
    }
    expect(await w.redis.llen(key)).toBe(1);
  }, 60_000);

  it('fires an hourly cron every 5 real seconds, at :05 simulated', async () => {
    const key = `${w.prefix}:test:clock-hourly`;
    await waitUntil(async () => (await w.redis.llen(key)) >= 3, 60_000, 'three hourly runs');
    const all = await runs(w.redis, key);
    const slots = all.map((r) => r.scheduled);
    expect(new Set(slots).size).toBe(slots.length);
    for (let i = 1; i < slots.length; i++) {
      // One slot per simulated hour: 5 real s apart (more only if a run started a slot late).
      const gap = (slots[i] ?? 0) - (slots[i - 1] ?? 0);
      expect(gap % 5_000).toBe(0);
      expect(gap).toBeGreaterThan(0);
    }
    expect((slots[1] ?? 0) - (slots[0] ?? 0)).toBe(5_000);
    for (const { scheduled, ranAt } of all) {
      // Each at :05 simulated, and never run before its slot.
      expect(new Date(Math.round(simulatedAt(scheduled) / 1000) * 1000).toISOString()).toMatch(
        /T\d\d:05:00\.000Z$/,
      );
      expect(ranAt).toBeGreaterThanOrEqual(scheduled);
    }
  }, 90_000);
});

describe('crons without a fixed period on the compressed clock', () => {
  const r = useRedis();
  const config = () =>
    testConfig({
      CLOCK_RATE: String(RATE),
      CLOCK_ORIGIN: new Date(ORIGIN).toISOString(),
      CLOCK_STARTED_AT: new Date().toISOString(),
    });

  it.each([
    ['*/7 * * * *', /not evenly spaced/],
    ['0 9 * * 1-5', /not evenly spaced/],
    ['0 3 1 * *', /days of the month or months/],
    ['0 3 * 6 *', /days of the month or months/],
  ])('refuses "%s", naming the job and the pattern', async (pattern, why) => {
    const sync = syncSchedulers({
      connection: r.redis,
      prefix: r.prefix,
      jobs: [recorder('uneven', pattern)],
      config: config(),
      log: createLogger({ level: 'silent' }),
    });
    await expect(sync).rejects.toThrow(`job uneven: its cron "${pattern}" (UTC) cannot run`);
    await expect(sync).rejects.toThrow(why);
  });

  it('accepts the catalog defaults: every minute, */5, hourly, daily, weekly', async () => {
    const crons = ['* * * * *', '*/5 * * * *', '5 * * * *', '30 0 * * *', '0 3 * * *', '0 4 * * 0'];
    const jobs = crons.map((cron, i) => recorder(`fixed-${i}`, cron));
    await syncSchedulers({
      connection: r.redis,
      prefix: r.prefix,
      jobs,
      config: config(),
      log: createLogger({ level: 'silent' }),
    });
    const every: number[] = [];
    for (const job of jobs) {
      const queue = new Queue(job.queue, { connection: r.redis, prefix: r.prefix });
      every.push((await queue.getJobScheduler(job.queue))?.every ?? 0);
      await queue.close();
    }
    expect(every).toEqual(
      [1, 5, 60, 1_440, 1_440, 10_080].map((m) => Math.round((m * MIN) / RATE)),
    );
  });
});
