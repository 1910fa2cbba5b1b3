import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeEmbedding } from '../../test/fixtures/fake-embedding.ts';
import { keysMatching, useRedis } from '../../test/fixtures/redis.ts';
import { createWorkerConnection, keyHolders, type RedisClient } from '../redis/connections.ts';
import { createSemanticIndex, type SemanticIndex } from './semantic-index.ts';
import { removeSemanticEntries, semanticEntryKey } from './semantic-store.ts';

const DIMENSIONS = 64;
const NS = 'summary|llama3.2:3b@1|nomic-embed-text|t1';
const embed = (text: string) => fakeEmbedding(text, DIMENSIONS);

describe('the semantic index', () => {
  const ctx = useRedis();
  const opened: { index: SemanticIndex; redis: RedisClient }[] = [];

  /** A "worker": its own Redis connection and its own in-memory index. */
  async function worker(options: { ttlMs?: number } = {}): Promise<SemanticIndex> {
    const redis = createWorkerConnection(ctx.target);
    const index = createSemanticIndex({
      redis,
      prefix: ctx.prefix,
      dimensions: DIMENSIONS,
      onError: () => {},
      ...options,
    });
    opened.push({ index, redis });
    await index.ready;
    return index;
  }

  afterEach(async () => {
    for (const { index, redis } of opened.splice(0)) {
      await index.close();
      await redis.quit();
    }
  });

  async function eventually<T>(probe: () => T | undefined, timeoutMs = 1_000): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const value = probe();
      if (value !== undefined) return value;
      if (performance.now() > deadline) throw new Error(`not found within ${timeoutMs} ms`);
      await sleep(5);
    }
  }

  it('finds an entry added by one worker on another within 1 s', async () => {
    const a = await worker();
    const b = await worker();
    const vector = embed('Summarize this article about red shoes');
    await a.add(NS, { id: 'p1', vector, value: 'red shoes' });
    expect(a.nearest(NS, vector, { minScore: 0.95 })).toMatchObject({ id: 'p1' });

    const started = performance.now();
    const query = embed('Please summarise the article on red shoes');
    const hit = await eventually(() => b.nearest(NS, query, { minScore: 0.95 }));
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(hit).toEqual({ id: 'p1', score: expect.closeTo(1, 2), value: 'red shoes' });
  });

  it('refuses a neighbour below the threshold', async () => {
    const a = await worker();
    await a.add(NS, { id: 'ten', vector: embed('The shirt costs 10 dollars') });
    expect(a.nearest(NS, embed('The shirt costs 12 dollars'), { minScore: 0.95 })).toBeUndefined();
    expect(a.nearest(NS, embed('The shirt costs 12 dollars'), { minScore: 0.1 })).toMatchObject({
      id: 'ten',
    });
  });

  it('never looks across namespaces', async () => {
    const a = await worker();
    const b = await worker();
    const vector = embed('Translate good morning to French');
    await a.add(NS, { id: 'p1', vector });
    await eventually(() => b.nearest(NS, vector, { minScore: 0.95 }));
    expect(a.nearest('summary|llama3.2:3b@2|nomic-embed-text|t1', vector, { minScore: 0 })).toBe(
      undefined,
    );
    expect(b.nearest('classification|x', vector, { minScore: 0 })).toBeUndefined();
  });

  it('never returns an expired entry, in any worker, and forgets it', async () => {
    const a = await worker();
    const b = await worker();
    const vector = embed('Name three red fruits');
    await a.add(NS, { id: 'short', vector }, 500);
    await eventually(() => b.nearest(NS, vector, { minScore: 0.95 }));
    await sleep(550);
    expect(a.nearest(NS, vector, { minScore: 0 })).toBeUndefined();
    expect(b.nearest(NS, vector, { minScore: 0 })).toBeUndefined();
    expect([a.size(), b.size()]).toEqual([0, 0]);
    const keys = await keysMatching(ctx.redis, `${ctx.prefix}:semantic:entry:*`);
    expect(keys).toEqual([]);
  });

  it('uses the default TTL when an entry has none', async () => {
    const a = await worker({ ttlMs: 250 });
    await a.add(NS, { id: 'p', vector: embed('hello there') });
    const [key] = await keysMatching(ctx.redis, `${ctx.prefix}:semantic:entry:*`);
    expect(await ctx.redis.pttl(key!)).toBeLessThanOrEqual(250);
  });

  it('loads the live entries from Redis when a worker starts', async () => {
    const a = await worker();
    await a.add(NS, { id: 'kept', vector: embed('Summarize the meeting notes'), value: 'v' });
    await a.add(NS, { id: 'gone', vector: embed('List the planets') }, 100);
    await sleep(150);

    const restarted = await worker();
    expect(restarted.size()).toBe(1);
    expect(restarted.nearest(NS, embed('Summarise meeting notes'), { minScore: 0.95 })).toEqual({
      id: 'kept',
      score: expect.closeTo(1, 2),
      value: 'v',
    });
    expect(restarted.nearest(NS, embed('List the planets'), { minScore: 0.95 })).toBeUndefined();
  });

  it('replaces an entry added again under the same id', async () => {
    const a = await worker();
    const b = await worker();
    const vector = embed('Classify this ticket');
    await a.add(NS, { id: 'p', vector, value: 'old' }, 60_000);
    await eventually(() => b.nearest(NS, vector, { minScore: 0.95 }));
    await a.add(NS, { id: 'p', vector, value: 'new' }, 120_000);
    await eventually(() =>
      b.nearest(NS, vector, { minScore: 0.95 })?.value === 'new' ? true : undefined,
    );
    expect(b.size()).toBe(1);
  });

  it('catches up after its tail connection drops', async () => {
    const a = await worker();
    const b = await worker();
    const dropped = await dropTails();
    // A cluster client connects to a master when it first sends there: at least one per tail.
    if (ctx.target.cluster) expect(dropped).toBeGreaterThanOrEqual(2);
    else expect(dropped).toBe(2);
    const vector = embed('Diagnose the rattling pump');
    await a.add(NS, { id: 'after-drop', vector });
    await eventually(() => b.nearest(NS, vector, { minScore: 0.95 }), 3_000);
  });

  /**
   * Kills the tails' connections (on every master of a cluster): what is sent meanwhile arrives
   * in one read on reconnect. Returns how many it killed.
   */
  async function dropTails(): Promise<number> {
    let killed = 0;
    for (const node of await keyHolders(ctx.redis)) {
      const clients = (await node.client('LIST')) as string;
      const tails = clients
        .split('\n')
        .filter((line) => line.includes(`name=lowburn-semantic-tail:${ctx.prefix} `))
        .map((line) => /id=(\d+)/.exec(line)?.[1]);
      for (const id of tails) await node.client('KILL', 'ID', id!);
      killed += tails.length;
    }
    return killed;
  }

  describe('when an entry is removed', () => {
    it('stops being found in every worker, and a worker started later never loads it', async () => {
      const a = await worker();
      const b = await worker();
      const bad = embed('Summarize the quarterly report');
      const good = embed('List the planets of the solar system');
      await a.add(NS, { id: 'bad', vector: bad, value: 'bad' });
      await a.add(NS, { id: 'good', vector: good });
      await eventually(() => (b.size() === 2 ? true : undefined));

      const key = semanticEntryKey(NS, 'bad');
      await removeSemanticEntries(ctx.redis, ctx.prefix, [key]);

      await eventually(() =>
        a.nearest(NS, bad, { minScore: 0.95 }) || b.nearest(NS, bad, { minScore: 0.95 })
          ? undefined
          : true,
      );
      expect([a.size(), b.size()]).toEqual([1, 1]);
      expect(b.nearest(NS, good, { minScore: 0.95 })).toMatchObject({ id: 'good' });
      expect(await ctx.redis.exists(`${ctx.prefix}:semantic:entry:${key}`)).toBe(0);
      expect(await ctx.redis.zscore(`${ctx.prefix}:semantic:expiry`, key)).toBeNull();

      const later = await worker();
      expect(later.size()).toBe(1);
      expect(later.nearest(NS, bad, { minScore: -1 })).toMatchObject({ id: 'good' });
    });

    it('applies additions and removals in stream order, within one read too', async () => {
      const a = await worker();
      const b = await worker();
      const vector = embed('Translate good night to German');
      await a.add(NS, { id: 'p', vector, value: 'old' });
      await eventually(() => b.nearest(NS, vector, { minScore: 0.95 }));

      await dropTails();
      await removeSemanticEntries(ctx.redis, ctx.prefix, [semanticEntryKey(NS, 'p')]);
      await a.add(NS, { id: 'p', vector, value: 'new' });

      await eventually(
        () => (b.nearest(NS, vector, { minScore: 0.95 })?.value === 'new' ? true : undefined),
        3_000,
      );
      expect([a.size(), b.size()]).toEqual([1, 1]);
    });
  });

  it('rejects vectors of the wrong size or without direction', async () => {
    const a = await worker();
    await expect(a.add(NS, { id: 'x', vector: [1, 2, 3] })).rejects.toThrow(RangeError);
    await expect(a.add(NS, { id: 'x', vector: new Float32Array(DIMENSIONS) })).rejects.toThrow(
      /zeros/,
    );
    expect(() => a.nearest(NS, [1, 2], { minScore: 0.9 })).toThrow(RangeError);
  });
});
