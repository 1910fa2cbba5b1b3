import { describe, expect, it } from 'vitest';
import { closeTheGap, type RunFigures, TARGET_CPAU_USD } from './target.ts';

const run: RunFigures = {
  usersPerBox: 12_000,
  modelBoxes: { busiest: 3, average: 2 },
  oracleHitRate: 0.815,
  hitRate: 0.78,
  fallbackShareMisses: 0.05,
};
const row = (usd: Partial<Record<string, number>>, users = 10_000) => ({
  active_users: users,
  token_usd: usd.tokens ?? 0,
  fleet_usd: usd.fleet ?? 0,
  database_usd: usd.database ?? 0,
  model_usd: usd.model ?? 0,
  storage_usd: usd.storage ?? 0,
  requests_usd: usd.requests ?? 0,
});

describe("bench:day's target line", () => {
  it('is $100 a month at 10,000 users', () => {
    expect(TARGET_CPAU_USD * 10_000 * (365 / 12)).toBeCloseTo(100, 6);
  });

  it('says met when the components sum under the target', () => {
    expect(closeTheGap(row({ fleet: 1, model: 1.5 }), run)).toEqual([
      [expect.stringContaining('CPAU target'), 'met: $0.00025 a user-day'],
    ]);
  });

  it('names what carries a miss, and by how much the largest must fall', () => {
    // $9.60 of model boxes and $0.40 of fleet a day at 10,000 users: $0.001 a user-day.
    const rows = closeTheGap(row({ model: 9.6, fleet: 0.4 }), run);
    expect(rows[0]?.[1]).toBe(
      `missed by $${(0.001 - TARGET_CPAU_USD).toFixed(8).replace(/0+$/, '')} a user-day (3.04× the target)`,
    );
    expect(rows[1]?.[1]).toMatch(/^model boxes 0\.00096 \(96(\.0)? %\), fleet 0\.00004/);
    expect(rows[2]?.[1]).toMatch(/^model boxes alone would have to fall by \$0\.00067/);
    expect(rows[2]?.[1]).toContain('busiest hour needs 3 model box(es), the average hour 2');
  });

  it('says when no component alone can close it', () => {
    const rows = closeTheGap(row({ model: 3, fleet: 3, tokens: 3 }), run);
    expect(rows[2]?.[1]).toContain('more than it costs');
  });

  it('says so when there is no cost row', () => {
    expect(closeTheGap(undefined, run)).toEqual([[expect.any(String), 'no cost row']]);
  });
});
