import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { costsSchema } from '../../shared/config/costs-config.ts';
import { dayCost } from './day-cost.ts';
import { rollupMetrics } from './metrics.ts';

const use = {
  activeUsers: 100,
  tokenUsd: 1,
  localOutputTokens: 0,
  storageBytes: 0,
  storageWrites: 0,
  storageReads: 0,
};

describe("a day's cost from the price sheet", () => {
  it('adds a model box per 20 output tokens a second the local model produced', () => {
    const costs = costsSchema.parse({});
    // 20 tokens/s × 86,400 s = 1,728,000 a box; one more token needs a second box.
    expect(dayCost({ ...use, localOutputTokens: 1_728_000 }, costs).modelBoxes).toBe(1);
    expect(dayCost({ ...use, localOutputTokens: 1_728_001 }, costs).modelBoxes).toBe(2);
    expect(dayCost(use, costsSchema.parse({ modelBox: { min: 0 } })).modelBoxes).toBe(0);
  });

  it('charges storage beyond the free 10 GB, and writes and reads by the million', () => {
    const cost = dayCost(
      { ...use, storageBytes: 110e9, storageWrites: 2e6, storageReads: 1e6 },
      costsSchema.parse({}),
    );
    // 100 GB × $0.015 × 12 / 365 = $0.04931507; 2 × $4.50 + $0.36.
    expect(cost.components.storage).toBe(0.04931507);
    expect(cost.components.requests).toBe(9.36);
  });

  it('keeps the lines an operator does not override', () => {
    const costs = costsSchema.parse({ fleetBoxUsdPerMonth: 40, storage: { freeGb: 0 } });
    expect(costs).toEqual({
      fleetBoxUsdPerMonth: 40,
      databaseUsdPerMonth: 0,
      modelBox: { usdPerMonth: 26, outputTokensPerSecond: 20, min: 1 },
      storage: {
        usdPerGbMonth: 0.015,
        freeGb: 0,
        usdPerMillionWrites: 4.5,
        usdPerMillionReads: 0.36,
      },
      limits: { postgresGb: 40, redisMb: 1024 },
    });
    expect(() => costsSchema.parse({ fleetBox: 20 })).toThrow();
  });

  it('has no CPAU without an active user', () => {
    expect(dayCost({ ...use, activeUsers: 0 }, costsSchema.parse({})).cpau).toBeNull();
  });

  it('sets the gauges: CPAU, cost and share by component', async () => {
    const registry = new Registry();
    const cost = dayCost(use, costsSchema.parse({}));
    rollupMetrics(registry).record({
      day: '2026-11-20',
      rows: 1,
      activeUsers: 100,
      cost,
      apiCallsFrom: 'redis',
    });
    const text = await registry.metrics();
    expect(text).toContain(`lowburn_cpau_usd ${cost.cpau}`);
    expect(text).toContain('lowburn_cost_usd{component="tokens"} 1');
    expect(text).toContain(`lowburn_cost_share{component="tokens"} ${1 / cost.total}`);
  });
});
