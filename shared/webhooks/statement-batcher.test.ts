import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { StatementBatcher } from './statement-batcher.ts';

/** A batcher over a fake statement that records each batch it ran. */
function recording(options: { maxInFlight?: number; key?: (n: number) => string } = {}) {
  const batches: number[][] = [];
  const batcher = new StatementBatcher<number, number>({
    ...options,
    run: async (items) => {
      batches.push(items);
      await sleep(5);
      if (items.includes(-1)) throw Object.assign(new Error('refused'), { code: '22P05' });
      if (items.includes(-2)) throw Object.assign(new Error('Connection terminated'), {});
      return items.map((n) => n * 10);
    },
  });
  return { batcher, batches };
}

describe('StatementBatcher', () => {
  it('sends a lone item at once, and what arrives meanwhile as one batch', async () => {
    const { batcher, batches } = recording({ maxInFlight: 1 });

    const first = batcher.submit(1);
    await sleep(1);
    const rest = [2, 3, 4].map((n) => batcher.submit(n));

    expect(await Promise.all([first, ...rest])).toEqual([10, 20, 30, 40]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  it('never puts two items with the same key in one batch', async () => {
    const { batcher, batches } = recording({ key: (n) => String(n % 2) });

    await Promise.all([1, 3, 2, 5].map((n) => batcher.submit(n)));

    expect(batches).toEqual([[1, 2], [3], [5]]);
  });

  it('retries a batch Postgres refused item by item: only the bad item fails', async () => {
    const { batcher } = recording();

    const results = await Promise.allSettled([1, -1, 2].map((n) => batcher.submit(n)));

    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('fails the whole batch at once when Postgres is unreachable', async () => {
    const { batcher, batches } = recording();

    const results = await Promise.allSettled([1, -2, 2].map((n) => batcher.submit(n)));

    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(batches).toHaveLength(1);
  });
});
