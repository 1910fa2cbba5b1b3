import { describe, expect, it } from 'vitest';
import { costsSchema } from '../../shared/config/costs-config.ts';
import { readSizeSamples, recordSizeSample } from '../../shared/usage/size-samples.ts';
import { useRedis } from '../../test/fixtures/redis.ts';
import { growthPerDay, headroom, reachedOn } from './headroom.ts';

describe('headroom', () => {
  const r = useRedis();

  it('grows by the last 7 days, not by older ones', () => {
    const series = [
      { day: '2026-11-01', value: 0 }, // older than 7 days before the last: ignored
      { day: '2026-11-13', value: 100 },
      { day: '2026-11-16', value: 400 },
      { day: '2026-11-20', value: 800 },
    ];
    expect(growthPerDay(series)).toBe(100); // (800 − 100) / 7 days
    expect(growthPerDay(series.slice(-1))).toBeNull();
  });

  it('dates the limit at that growth, or says why not', () => {
    expect(reachedOn(800, 1800, 100, '2026-11-21')).toBe('2026-12-01');
    expect(reachedOn(800, 1800, 0, '2026-11-21')).toBe('not at this growth');
    expect(reachedOn(800, 1800, null, '2026-11-21')).toBe('needs 2 days of history');
    expect(reachedOn(1800, 1800, 5, '2026-11-21')).toBe('reached');
  });

  it("measures this month's local output against the model boxes' month", () => {
    const days = Array.from({ length: 20 }, (_, i) => ({
      day: `2026-11-${String(i + 1).padStart(2, '0')}`,
      storageBytes: 0,
      localOutputTokens: 2_000_000,
    }));
    const lines = headroom({
      today: '2026-11-21',
      costs: costsSchema.parse({}),
      now: { postgresBytes: 1e9, redisBytes: 2 ** 29, redisMaxBytes: 0 },
      samples: [{ day: '2026-11-14', postgresBytes: 0.3e9, redisBytes: 2 ** 29 }],
      days,
    });
    const tokens = lines.find((l) => l.unit === 'tokens');
    // One box at 20 tokens/s for November's 30 days: 51,840,000; 40M used, 2M a day.
    expect(tokens).toMatchObject({ used: 40e6, limit: 51_840_000, perDay: 2e6 });
    expect(tokens?.reached).toBe('2026-11-27'); // ⌈11.84M ÷ 2M⌉ = 6 days
    const postgres = lines[0];
    // 0.7 GB in 7 days against the default 40 GB: 390 days.
    expect(postgres).toMatchObject({ used: 1e9, limit: 40e9, reached: '2027-12-16' });
    expect(postgres?.perDay).toBeCloseTo(1e8, 0);
    // Redis has no maxmemory here: the price sheet's 1,024 MB, half used, not growing.
    expect(lines[1]).toMatchObject({ limit: 2 ** 30, perDay: 0, reached: 'not at this growth' });
  });

  it('keeps a sample a day for 35 days', async () => {
    await recordSizeSample(r.redis, r.prefix, '2026-10-01', { postgresBytes: 1, redisBytes: 1 });
    await recordSizeSample(r.redis, r.prefix, '2026-11-19', { postgresBytes: 2, redisBytes: 2 });
    await recordSizeSample(r.redis, r.prefix, '2026-11-20', { postgresBytes: 3, redisBytes: 3 });
    await recordSizeSample(r.redis, r.prefix, '2026-11-20', { postgresBytes: 4, redisBytes: 4 });
    expect(await readSizeSamples(r.redis, r.prefix)).toEqual([
      { day: '2026-11-19', sample: { postgresBytes: 2, redisBytes: 2 } },
      { day: '2026-11-20', sample: { postgresBytes: 4, redisBytes: 4 } },
    ]);
  });
});
