import { describe, expect, it } from 'vitest';
import { costsSchema } from '../../shared/config/costs-config.ts';
import { dayMeasure, perUser, sizingMarkdown, sizingRows, sizingSection } from './sizing.ts';

const prices = costsSchema.parse({});

describe("bench:day's sizing table", () => {
  it('adds back what the run refused: CPU by the smaller accepted share, tokens by the generations’', () => {
    const p = perUser({
      users: 10_000,
      days: 1,
      fleetCpuS: 5_000,
      acceptedShare: { generations: 0.5, pings: 0.25 },
      busiestHourLocalTokens: 1_000_000,
      paidUsdPerDay: 1,
      redisPeakMb: 300,
      postgresMb: 10_000,
      coldMbPerDay: 400,
    });
    expect(p.cpuS).toBeCloseTo(2, 9); // 0.5 CPU-s a user-day ÷ 0.25
    expect(p.busiestHourLocalTokens).toBeCloseTo(200, 9); // 100 ÷ 0.5
    expect(p.paidUsd).toBeCloseTo(0.0002, 12);
    expect(p.redisMb).toBeCloseTo(0.03, 12);
    expect(p.coldMbPerDay).toBeCloseTo(0.04, 12);
  });

  it('sizes boxes, memory, storage and the bill from one user-day and the price sheet', () => {
    const [small, big] = sizingRows(
      {
        cpuS: 2,
        busiestHourLocalTokens: 200,
        paidUsd: 0.0001,
        redisMb: 0.03,
        postgresMb: 1,
        coldMbPerDay: 0.04,
      },
      prices,
      [1_000, 100_000],
    );
    // 1,000 users: 2,000 CPU-s a day of one box's 86,400; 200,000 tokens in the busiest hour
    // at 20 tokens/s a box = 3 boxes; a year of cold days is 14.3 GB, 4.3 past the free 10.
    expect(small).toMatchObject({
      users: 1_000,
      fleetBoxes: 1,
      modelBoxes: 3,
      redisMb: 30,
      postgresGb: 1,
      storageGb: 14.3,
      outgrows: [],
    });
    const bill = 20 + 3 * 26 + 1_000 * 0.0001 * (365 / 12) + (14_600 / 1_024 - 10) * 0.015;
    expect(small?.monthlyUsd).toBeCloseTo(bill, 2);
    expect(small?.cpauUsd).toBeCloseTo(bill / (365 / 12) / 1_000, 6);
    // 100,000 users: 200,000 CPU-s = 3 boxes; Redis and Postgres past one box's plan.
    expect(big).toMatchObject({ fleetBoxes: 3, modelBoxes: 278 });
    expect(big?.outgrows).toEqual(['Redis 2.9 GB > 1024 MB', 'Postgres 97.7 GB > 40 GB']);
  });

  it('prints a Markdown table a row per size', () => {
    const table = sizingMarkdown(
      sizingRows(
        {
          cpuS: 1,
          busiestHourLocalTokens: 10,
          paidUsd: 0,
          redisMb: 0.01,
          postgresMb: 0.5,
          coldMbPerDay: 0.01,
        },
        prices,
      ),
    );
    expect(table.split('\n')).toHaveLength(6);
    expect(table).toContain('| 100,000 | 2 |');
  });

  it('reads a saved report: the fleet’s CPU, the accepted shares, the biggest exported day', () => {
    const saved = {
      settings: { users: 100, days: 1 },
      cpu: { api: 10, worker1: 20, worker2: 30, redis: 5, postgres: 35, client: 99 },
      outcomes: { busiestHourLocalTokens: 5_000 },
      redisPeakMb: 3,
      sizes: { database: 50, telemetry: 40 },
      cost: { token_usd: '0.25' },
      checks: { exports: { bytesPerDay: { '2026-12-06': 2_097_152, '2026-12-05': 1_048_576 } } },
      client: {
        generations: { accepted: 1_500, dropped: 500, lag: { started: 3_000 } },
        pings: { accepted: 432_000 },
      },
    };
    expect(dayMeasure(saved)).toEqual({
      users: 100,
      days: 1,
      fleetCpuS: 100, // the client's own CPU is not the fleet's
      acceptedShare: { generations: 0.5, pings: 0.5 },
      busiestHourLocalTokens: 5_000,
      paidUsdPerDay: 0.25,
      redisPeakMb: 3,
      postgresMb: 50,
      coldMbPerDay: 2,
    });
    const { section, markdown } = sizingSection(saved);
    expect(section[1][0]?.[1]).toContain('2 CPU-s'); // 1 CPU-s a user-day ÷ 0.5 accepted
    expect(markdown).toContain('| 1,000 |');
  });
});
