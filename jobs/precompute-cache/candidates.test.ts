import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../shared/config/load-config.ts';
import { createGenerationPipeline } from '../../shared/inference/pipeline.ts';
import { createLogger } from '../../shared/log/logger.ts';
import { createStorage } from '../../shared/storage/create-storage.ts';
import type { ObjectStorage } from '../../shared/storage/storage.ts';
import { testExportOptions } from '../../test/fixtures/cold.ts';
import { testConfig } from '../../test/fixtures/config.ts';
import { recordAsk, recordAsks } from '../../test/fixtures/generations.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { useRedis } from '../../test/fixtures/redis.ts';
import { exportCold } from '../export-cold/export-cold.ts';
import { rankCandidates } from './candidates.ts';

const DAY = 86_400_000;
const log = createLogger({ level: 'silent' });

describe('precompute candidates', () => {
  const database = useTestDatabase();
  const r = useRedis();
  let dir: string;
  let config: Config;
  let storage: ObjectStorage;
  const apiKeyId = randomUUID();
  const now = new Date();
  const coldDay = new Date(now.getTime() - 3 * DAY);
  const today = new Date(now.getTime() - 60_000);

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'lowburn-precompute-'));
    config = testConfig({
      DATABASE_URL: database.url,
      STORAGE_URL: `file:${path.join(dir, 'objects')}`,
      COLD_CACHE_DIR: path.join(dir, 'cache'),
      DUCKDB_THREADS: '1',
      PRECOMPUTE_TOP_N: '4',
    });
    storage = await createStorage(config.storage);

    // Three days ago (exported to cold Parquet below): the weather prompt by three users, a
    // private prompt asked often by one user, and a conversation by three users.
    await recordAsks(database.db, 3, { apiKeyId, users: 3, at: coldDay, prompt: 'Weather?' });
    await recordAsks(database.db, 6, { apiKeyId, users: 1, at: coldDay, prompt: 'My diary' });
    const chat = [
      { role: 'user' as const, content: 'Hi' },
      { role: 'assistant' as const, content: 'Hello' },
      { role: 'user' as const, content: 'And then?' },
    ];
    await recordAsks(database.db, 3, { apiKeyId, users: 3, at: coldDay, messages: chat });
    await exportCold(
      testExportOptions(database, storage, path.join(dir, 'work'), { tables: ['generations'] }),
    );

    // Today (hot): the weather prompt again, spelt with other whitespace (one key), and others.
    await recordAsks(database.db, 2, { apiKeyId, users: 2, at: today, prompt: '  Weather? ' });
    await recordAsks(database.db, 2, {
      apiKeyId,
      users: 2,
      at: today,
      prompt: 'Pricey',
      route: 'frontier',
      costUsd: 0.002,
    });
    await recordAsks(database.db, 4, {
      apiKeyId,
      users: 4,
      at: today,
      prompt: 'Per user',
      cache: 'user',
    });
    await recordAsks(database.db, 3, {
      apiKeyId,
      users: 3,
      at: today,
      prompt: 'Never cached',
      cache: 'off',
    });
    // A template whose case-insensitive param is spelt two ways by two users: one template key.
    await recordAsk(database.db, {
      apiKeyId,
      userId: 'a',
      at: today,
      taskType: 'formatting',
      template: 'product-title',
      params: { product: 'Red Mug' },
    });
    await recordAsk(database.db, {
      apiKeyId,
      userId: 'b',
      at: today,
      taskType: 'formatting',
      template: 'product-title',
      params: { product: 'red mug' },
    });
    // Another key's scope: the same prompt is a key of its own there.
    await recordAsks(database.db, 3, {
      apiKeyId: randomUUID(),
      users: 2,
      at: today,
      prompt: 'Weather?',
    });
    // Older than the window.
    await recordAsks(database.db, 5, {
      apiKeyId,
      users: 5,
      at: new Date(now.getTime() - 9 * DAY),
      prompt: 'Stale',
    });
  });
  afterAll(async () => {
    await storage?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const rank = (overrides: Record<string, string> = {}) => {
    const merged: Config = {
      ...config,
      precompute: testConfig({ PRECOMPUTE_TOP_N: '4', ...overrides }).precompute,
    };
    const generation = createGenerationPipeline({
      config: merged.inference,
      redis: r.redis,
      prefix: r.prefix,
      log,
      semanticIndex: () => Promise.reject(new Error('not used')),
    });
    return rankCandidates({ config: merged, storage, generation, now });
  };

  it('ranks cache keys over cold days and hot rows together, by miss cost then asks', async () => {
    const ranking = await rank();
    expect(ranking.coldRows).toBe(12);
    const summary = ranking.candidates.map((c) => ({
      prompt: c.payload.prompt ?? c.payload.template,
      scope: c.scope === apiKeyId ? 'own' : 'other',
      asks: c.asks,
      users: c.users,
    }));
    expect(summary).toEqual([
      // Priced misses first: 2 asks × $0.002.
      { prompt: 'Pricey', scope: 'own', asks: 2, users: 2 },
      // Cold and hot asks of one normalised prompt are one key.
      { prompt: '  Weather? ', scope: 'own', asks: 5, users: 3 },
      { prompt: 'Weather?', scope: 'other', asks: 3, users: 2 },
      { prompt: 'product-title', scope: 'own', asks: 2, users: 2 },
    ]);
    expect(ranking.candidates[0]?.missCostUsd).toBeCloseTo(0.002, 8);
  });

  it('leaves out one user’s prompts, conversations, per-user and uncached requests', async () => {
    const prompts = (await rank()).candidates.map((c) => c.payload.prompt ?? c.payload.template);
    for (const left of ['My diary', 'Per user', 'Never cached', 'Stale']) {
      expect(prompts).not.toContain(left);
    }
    expect((await rank()).candidates.some((c) => c.payload.messages)).toBe(false);
  });

  it('takes PRECOMPUTE_MIN_USERS and PRECOMPUTE_TOP_N from the config', async () => {
    const three = await rank({ PRECOMPUTE_MIN_USERS: '3', PRECOMPUTE_TOP_N: '10' });
    expect(three.candidates.map((c) => c.payload.prompt)).toEqual(['  Weather? ']);
    const one = await rank({ PRECOMPUTE_MIN_USERS: '1', PRECOMPUTE_TOP_N: '10' });
    expect(one.candidates.map((c) => c.payload.prompt)).toContain('My diary');
    expect((await rank({ PRECOMPUTE_TOP_N: '1' })).candidates).toHaveLength(1);
  });

  it('finds nothing to do in an empty window', async () => {
    const generation = createGenerationPipeline({
      config: config.inference,
      redis: r.redis,
      prefix: r.prefix,
      log,
      semanticIndex: () => Promise.reject(new Error('not used')),
    });
    const ranking = await rankCandidates({
      config,
      storage,
      generation,
      now: new Date(now.getTime() - 30 * DAY),
    });
    expect(ranking.candidates).toEqual([]);
  });
});
