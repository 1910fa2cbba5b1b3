import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { budgetDay, readBudgetCrossings, readSpend } from '../../shared/usage/budgets.ts';
import { testConfig } from '../../test/fixtures/config.ts';
import { useRedis } from '../../test/fixtures/redis.ts';
import { recordSpend } from './budget.ts';

const KEY = '5a2d8c14-3b9e-4c61-8f0a-7e4b2d9c1a05';

/** What recordSpend logs, one parsed JSON object per line. */
function captureLog() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { lines, log: pino({ level: 'info' }, stream) };
}

describe('recording a generation’s spend', () => {
  const r = useRedis();

  it('logs one warning the first time a user reaches each budget in a day, and no other line', async () => {
    const { lines, log } = captureLog();
    const ctx = { deps: { redis: r.redis, config: testConfig({ QUEUE_PREFIX: r.prefix }) }, log };
    const payload = {
      apiKeyId: KEY,
      userId: 'ada',
      taskType: 'summary' as const,
      prompt: 'x',
      budget: { softUsd: 1, hardUsd: 2, localOnly: false },
    };
    for (const usd of [0.6, 0.6, 0, 0.3, 0.6, 0.6]) await recordSpend(ctx, payload, usd);
    const day = budgetDay(new Date(), 'UTC');
    expect(await readSpend(r.redis, r.prefix, day, KEY, 'ada')).toBeCloseTo(2.7, 9);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 40,
        msg: 'user reached their soft daily budget: local model only until the budget day resets',
        apiKeyId: KEY,
        userId: 'ada',
        budget: 'soft',
        spentUsd: 1.2,
        budgetUsd: 1,
        day,
      }),
      expect.objectContaining({ level: 40, budget: 'hard', spentUsd: 2.1, budgetUsd: 2 }),
    ]);
    expect(String(lines[1]?.msg)).toContain('hard daily budget');
    expect((await readBudgetCrossings(r.redis, r.prefix, day)).map((c) => c.level).sort()).toEqual([
      'hard',
      'soft',
    ]);
  });
});
