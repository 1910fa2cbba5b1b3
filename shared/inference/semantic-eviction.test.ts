import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeEmbedding } from '../../test/fixtures/fake-embedding.ts';
import { useRedis } from '../../test/fixtures/redis.ts';
import { createWorkerConnection, type RedisClient } from '../redis/connections.ts';
import { createSemanticIndex, type SemanticIndex } from './semantic-index.ts';
import { semanticEntryKey, semanticKeys } from './semantic-store.ts';
import { writeSemanticEntry } from './semantic-write.ts';

const DIMENSIONS = 64;
const NS = 'summary|llama3.2:3b@1|nomic-embed-text|t1';
const OTHER = 'classification|llama3.2:3b@1|nomic-embed-text|t1';
const embed = (text: string) => fakeEmbedding(text, DIMENSIONS);
const vectorOf = (id: string) => embed(`The entry called ${id} about ${id.repeat(3)}`);

describe('SEMANTIC_MAX_ENTRIES: the least recently hit entries go, for every worker', () => {
  const ctx = useRedis();
  const opened: { index: SemanticIndex; redis: RedisClient }[] = [];

  async function worker(maxEntries: number): Promise<SemanticIndex> {
    const redis = createWorkerConnection(ctx.target);
    const index = createSemanticIndex({
      redis,
      prefix: ctx.prefix,
      dimensions: DIMENSIONS,
      maxEntries,
      onError: () => {},
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

  async function eventually(check: () => boolean, timeoutMs = 2_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!check()) {
      if (performance.now() > deadline) throw new Error(`not so within ${timeoutMs} ms`);
      await sleep(5);
    }
  }
  const finds = (index: SemanticIndex, id: string, namespace = NS) =>
    index.nearest(namespace, vectorOf(id), { minScore: 0.99 })?.id === id;
  const keys = () => semanticKeys(ctx.prefix);

  it('evicts the entry hit least recently, from Redis and every worker, and a new worker never loads it', async () => {
    const a = await worker(3);
    const b = await worker(3);
    // A few ms apart: the order is by milliseconds.
    for (const id of ['e1', 'e2', 'e3']) {
      await a.add(NS, { id, vector: vectorOf(id) });
      await sleep(3);
    }
    await eventually(() => b.size() === 3);
    // e1 answered a request on b: it is now the most recently used; e2 is the oldest.
    b.hit(NS, 'e1');
    await b.flushHits();

    await a.add(NS, { id: 'e4', vector: vectorOf('e4') });
    await eventually(() => a.size() === 3 && b.size() === 3 && !finds(a, 'e2') && !finds(b, 'e2'));
    for (const id of ['e1', 'e3', 'e4']) {
      expect(finds(a, id)).toBe(true);
      expect(finds(b, id)).toBe(true);
    }
    const evicted = semanticEntryKey(NS, 'e2');
    expect(await ctx.redis.exists(keys().entry(evicted))).toBe(0);
    expect(await ctx.redis.zscore(keys().expiry, evicted)).toBeNull();
    expect(await ctx.redis.zcard(keys().lru(NS))).toBe(3);

    const later = await worker(3);
    expect(later.size()).toBe(3);
    expect(finds(later, 'e2')).toBe(false);
  });

  it('caps each namespace on its own', async () => {
    const a = await worker(2);
    for (const id of ['n1', 'n2', 'n3']) {
      await a.add(NS, { id, vector: vectorOf(id) });
      await sleep(3);
    }
    for (const id of ['o1', 'o2']) await a.add(OTHER, { id, vector: vectorOf(id) });
    await eventually(() => a.size() === 4);
    expect(finds(a, 'n1')).toBe(false);
    expect([finds(a, 'n2'), finds(a, 'n3')]).toEqual([true, true]);
    expect([finds(a, 'o1', OTHER), finds(a, 'o2', OTHER)]).toEqual([true, true]);
  });

  it('never brings an evicted entry back through a late hit', async () => {
    const a = await worker(1);
    await a.add(NS, { id: 'old', vector: vectorOf('old') });
    await sleep(3);
    a.hit(NS, 'old');
    await a.add(NS, { id: 'new', vector: vectorOf('new') });
    await a.flushHits();
    expect(await ctx.redis.zrange(keys().lru(NS), 0, -1)).toEqual([semanticEntryKey(NS, 'new')]);
  });

  it('evicts for writes made without an index (a precompute run), and reaches a lowered cap', async () => {
    const a = await worker(0);
    const write = (id: string, maxEntries: number) =>
      writeSemanticEntry(
        {
          redis: ctx.redis,
          prefix: ctx.prefix,
          dimensions: DIMENSIONS,
          streamRetentionMs: 60_000,
          maxEntries,
        },
        NS,
        { id, vector: vectorOf(id) },
        60_000,
      );
    for (let i = 0; i < 10; i++) {
      expect((await write(`w${i}`, 0)).evicted).toBe(0);
      await sleep(3);
    }
    await eventually(() => a.size() === 10);
    expect((await write('w10', 4)).evicted).toBe(7);
    await eventually(() => a.size() === 4);
    expect(['w7', 'w8', 'w9', 'w10'].map((id) => finds(a, id))).toEqual([true, true, true, true]);
  });
});
