import { setTimeout as sleep } from 'node:timers/promises';
import { Ollama } from 'ollama';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fakeEmbedding } from '../../test/fixtures/fake-embedding.ts';
import { type ModelTestServer, startOllamaServer } from '../../test/fixtures/model-servers.ts';
import { createEmbedBatcher } from './embed-batcher.ts';

describe('the embed batcher', () => {
  let server: ModelTestServer;
  let ollama: Ollama;
  beforeAll(async () => {
    server = await startOllamaServer({ embeddingDimensions: 32 });
    ollama = new Ollama({ host: server.url });
  });
  afterEach(() => server.reset());
  afterAll(() => server.close());

  const batcher = (options: { windowMs?: number; maxBatch?: number } = {}) =>
    createEmbedBatcher({
      embed: async (input) => (await ollama.embed({ model: 'nomic-embed-text', input })).embeddings,
      ...options,
    });
  const texts = (n: number) => Array.from({ length: n }, (_, i) => `prompt number ${i}`);

  it('sends concurrent calls as one embed request', async () => {
    const embed = batcher();
    const vectors = await Promise.all(texts(20).map((t) => embed.embed(t)));
    expect(server.callsTo('/api/embed')).toHaveLength(1);
    expect(server.callsTo('/api/embed')[0]?.body?.input).toEqual(texts(20));
    vectors.forEach((v, i) => {
      expect(v).toEqual(fakeEmbedding(`prompt number ${i}`, 32));
    });
  });

  it('embeds a text asked for twice in a batch once', async () => {
    const embed = batcher();
    const [a, b] = await Promise.all([embed.embed('same'), embed.embed('same')]);
    expect(a).toEqual(b);
    expect(server.callsTo('/api/embed')[0]?.body?.input).toEqual(['same']);
  });

  it('sends a full batch without waiting out the window', async () => {
    const embed = batcher({ maxBatch: 4, windowMs: 10_000 });
    const started = performance.now();
    await Promise.all(texts(8).map((t) => embed.embed(t)));
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(server.callsTo('/api/embed').map((c) => c.body?.input)).toEqual([
      texts(4),
      texts(8).slice(4),
    ]);
  });

  it('starts a new batch for calls after the window', async () => {
    const embed = batcher({ windowMs: 5 });
    await embed.embed('first');
    await sleep(20);
    await embed.embed('second');
    expect(server.callsTo('/api/embed')).toHaveLength(2);
  });

  describe('when the embed request fails', () => {
    it('rejects every caller of that batch, and the next batch works', async () => {
      server.script({ path: '/api/embed', status: 500, error: 'embedding model crashed' });
      const embed = batcher();
      const results = await Promise.allSettled(texts(5).map((t) => embed.embed(t)));
      expect(results.map((r) => r.status)).toEqual(Array(5).fill('rejected'));
      expect(results[0]).toMatchObject({ reason: { error: 'embedding model crashed' } });
      await expect(embed.embed('again')).resolves.toHaveLength(32);
      expect(server.callsTo('/api/embed')).toHaveLength(2);
    });

    it('rejects every caller when the answer has the wrong number of vectors', async () => {
      const embed = createEmbedBatcher({ embed: async () => [[1, 2]] });
      const results = await Promise.allSettled([embed.embed('a'), embed.embed('b')]);
      expect(results).toMatchObject([
        { status: 'rejected', reason: { message: 'embed returned 1 vectors for 2 inputs' } },
        { status: 'rejected' },
      ]);
    });
  });
});
