import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../test/fixtures/config.ts';
import { fakeEmbedding } from '../../test/fixtures/fake-embedding.ts';
import { type ModelTestServer, startOllamaServer } from '../../test/fixtures/model-servers.ts';
import { keysMatching, useRedis } from '../../test/fixtures/redis.ts';
import { waitUntil } from '../../test/fixtures/wait-until.ts';
import { createLogger } from '../log/logger.ts';
import { createWorkerConnection, type RedisClient } from '../redis/connections.ts';
import { AnswerCache } from './answer-cache.ts';
import { type CachePurgeSelector, purgeCache } from './cache-purge.ts';
import { createGenerationPipeline, type GenerationRequest } from './pipeline.ts';
import { exactKey, namespaceKey, normaliseText } from './request-keys.ts';
import { createSemanticIndex, type SemanticIndex } from './semantic-index.ts';
import { defineTemplate, renderTemplate, templateKey } from './templates.ts';

const productTitle = defineTemplate({
  id: 'product-title',
  version: '1',
  taskType: 'formatting',
  params: { product: { case: 'insensitive' } },
  render: (p) => `Write a short product title for: ${p.product}`,
});

const CAT = 'Summarise: the cat sat on the mat.';
const DOG = 'Summarise: the dog chased the ball.';

describe('purging the cache', () => {
  const r = useRedis();
  let ollama: ModelTestServer;
  const opened: { index: SemanticIndex; redis: RedisClient }[] = [];
  beforeAll(async () => {
    ollama = await startOllamaServer();
  });
  afterAll(() => ollama.close());
  afterEach(async () => {
    for (const { index, redis } of opened.splice(0)) {
      await index.close();
      await redis.quit();
    }
  });

  const config = () => testConfig({ OLLAMA_URL: ollama.url }).inference;

  /** A "worker's" semantic index: a connection and an in-memory index of its own. */
  async function semanticWorker(): Promise<SemanticIndex> {
    const redis = createWorkerConnection(r.target);
    const index = createSemanticIndex({
      redis,
      prefix: r.prefix,
      dimensions: config().embedDimensions,
    });
    opened.push({ index, redis });
    await index.ready;
    return index;
  }

  /** A worker's generation pipeline, with its own semantic index. */
  function worker() {
    let index: Promise<SemanticIndex> | undefined;
    return createGenerationPipeline({
      config: config(),
      redis: r.redis,
      prefix: r.prefix,
      log: createLogger({ level: 'silent' }),
      semanticIndex: () => {
        index ??= semanticWorker();
        return index;
      },
    });
  }

  const ask = (text: string, scope = 's1', taskType = 'summary'): GenerationRequest => ({
    taskType,
    messages: [{ role: 'user', content: text }],
    cache: { scope, mode: 'shared' },
  });
  const titleFor = (product: string): GenerationRequest => ({
    ...ask(renderTemplate(productTitle, { product }), 's1', 'formatting'),
    template: { template: productTitle, params: { product } },
  });
  const namespaceOf = (taskType: string, scope: string, template?: string) => {
    const c = config();
    return namespaceKey({
      taskType,
      localModel: c.localModel,
      localModelVersion: c.localModelVersion,
      embedModel: c.embedModel,
      scope,
      ...(template && { template }),
    });
  };

  /** Where answers are cached now, as `layer ns key` (namespace and key shortened). */
  async function cached(): Promise<string[]> {
    const names = await keysMatching(r.redis, `${r.prefix}:cache:*`);
    return names
      .map((n) => n.slice(`${r.prefix}:cache:`.length).split(':').slice(0, 3))
      .map(([layer, ns, key]) => `${layer} ${ns?.slice(0, 6)} ${key?.slice(0, 8)}`)
      .sort();
  }
  const purge = (selector: CachePurgeSelector, dryRun = false) =>
    purgeCache({ redis: r.redis, prefix: r.prefix }, selector, { dryRun });
  const none = { precomputed: 0, exact: 0, template: 0, semantic: 0 };

  it('by prompt text: its answers in every layer and namespace go, and nothing else', async () => {
    const p = worker();
    for (const request of [ask(CAT), ask(CAT, 's2'), ask(DOG)]) await p.generate(request);
    const cat = exactKey([{ role: 'user', content: CAT }]);
    await new AnswerCache(r.redis, r.prefix).set(
      'precomputed',
      namespaceOf('summary', 's1'),
      cat,
      { answer: 'precomputed', model: 'm', route: 'local', createdAt: new Date().toISOString() },
      60_000,
    );
    const before = await cached();

    const result = await purge({ prompt: `  ${CAT.replace(' ', '   ')}` });

    expect(result).toMatchObject({
      dryRun: false,
      removed: { ...none, precomputed: 1, exact: 2, semantic: 2 },
      vectors: 2,
    });
    expect(result.namespaces.map((n) => n.parts?.scope).sort()).toEqual(['s1', 's2']);
    expect(await cached()).toEqual(before.filter((line) => !line.endsWith(cat.slice(0, 8))));
    expect(await cached()).toHaveLength(2);
    expect(await r.redis.zcard(`${r.prefix}:semantic:expiry`)).toBe(1);
    expect((await p.generate(ask(CAT))).route).toBe('local');
    expect((await p.generate(ask(DOG))).layer).toBe('exact');
  });

  it('by prompt text narrowed to a cache scope: only that scope loses it', async () => {
    const p = worker();
    await p.generate(ask(CAT));
    await p.generate(ask(CAT, 's2'));

    const result = await purge({ prompt: CAT, scope: 's2' });

    expect(result.removed).toEqual({ ...none, exact: 1, semantic: 1 });
    expect((await p.generate(ask(CAT, 's2'))).route).toBe('local');
    expect((await p.generate(ask(CAT))).layer).toBe('exact');
  });

  it('by task type: every namespace of it, every scope', async () => {
    const p = worker();
    for (const request of [ask(CAT), ask(CAT, 's2'), ask(DOG), ask('Is 7 prime?', 's1', 'qa')]) {
      await p.generate(request);
    }

    const result = await purge({ taskType: 'summary' });

    expect(result.removed).toEqual({ ...none, exact: 3, semantic: 3 });
    expect(result.vectors).toBe(3);
    expect(await cached()).toEqual([
      expect.stringMatching(/^exact /),
      expect.stringMatching(/^semantic /),
    ]);
    expect((await p.generate(ask('Is 7 prime?', 's1', 'qa'))).layer).toBe('exact');
  });

  it('by template, any version or one: its template, exact and semantic entries', async () => {
    const p = worker();
    await p.generate(titleFor('Red Shoes'));
    await p.generate(ask('Write a short product title for: a blue hat', 's1', 'formatting'));

    expect((await purge({ template: 'product-title@2' })).removed).toEqual(none);
    const result = await purge({ template: 'product-title' });

    expect(result.removed).toEqual({ ...none, exact: 1, template: 1, semantic: 1 });
    expect(result.namespaces).toEqual([
      expect.objectContaining({
        namespace: namespaceOf('formatting', 's1', 'product-title@1'),
        parts: expect.objectContaining({ template: 'product-title@1' }),
        answers: 3,
        vectors: 1,
      }),
    ]);
    expect((await p.generate(titleFor('red shoes'))).route).toBe('local');
  });

  it('by key: an exact key, or a template key (then only the template layer)', async () => {
    const p = worker();
    await p.generate(titleFor('Red Shoes'));
    const key = templateKey(productTitle, { product: 'Red Shoes' });

    expect((await purge({ key })).removed).toEqual({ ...none, template: 1 });
    const exact = exactKey(titleFor('Red Shoes').messages);
    expect(await purge({ key: exact })).toMatchObject({
      removed: { ...none, exact: 1, semantic: 1 },
      vectors: 1,
    });
    expect(await cached()).toEqual([]);
  });

  it('by namespace: the whole namespace, listed or not', async () => {
    const p = worker();
    for (const request of [ask(CAT), ask(DOG), ask(CAT, 's2')]) await p.generate(request);
    await r.redis.del(`${r.prefix}:cache-registry`);

    const result = await purge({ namespace: namespaceOf('summary', 's1') });

    expect(result.removed).toEqual({ ...none, exact: 2, semantic: 2 });
    expect(result.namespaces).toEqual([
      { namespace: namespaceOf('summary', 's1'), answers: 4, vectors: 2 },
    ]);
    expect((await p.generate(ask(CAT, 's2'))).layer).toBe('exact');
  });

  it('what the nightly precompute wrote: its precomputed, template and semantic entries', async () => {
    const p = worker();
    await p.precompute(titleFor('Red Shoes'), { allowFrontier: false });

    const result = await purge({ taskType: 'formatting' });

    expect(result).toMatchObject({
      removed: { ...none, precomputed: 1, template: 1, semantic: 1 },
      vectors: 1,
    });
    expect(await cached()).toEqual([]);
    expect((await p.generate(titleFor('red shoes'))).route).toBe('local');
  });

  it('with a dry run: counts what it would remove and removes nothing', async () => {
    const p = worker();
    await p.generate(ask(CAT));
    const before = await cached();

    const result = await purge({ taskType: 'summary' }, true);

    expect(result).toMatchObject({
      dryRun: true,
      removed: { ...none, exact: 1, semantic: 1 },
      vectors: 1,
    });
    expect(await cached()).toEqual(before);
    expect(await r.redis.zcard(`${r.prefix}:semantic:expiry`)).toBe(1);
  });

  it("removes a semantic entry from a second worker's index; a worker started later never loads it", async () => {
    const first = worker();
    const second = await semanticWorker();
    await first.generate(ask(CAT));
    const namespace = namespaceOf('summary', 's1');
    const vector = fakeEmbedding(normaliseText(CAT), config().embedDimensions);
    const found = async () => second.nearest(namespace, vector, { minScore: 0.95 }) !== undefined;
    await waitUntil(found, 2_000, "the entry in the second worker's index");

    await purge({ prompt: CAT });

    await waitUntil(async () => !(await found()), 2_000, 'the second worker dropping the entry');
    const later = await semanticWorker();
    expect(later.size()).toBe(0);
    expect(later.nearest(namespace, vector, { minScore: 0 })).toBeUndefined();
    // A paraphrase is no semantic hit in the first worker either: it asks the model.
    expect((await first.generate(ask('Summarise:  the cat sat on the mat'))).route).toBe('local');
  });
});
