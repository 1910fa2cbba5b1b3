import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { testConfig } from '../../test/fixtures/config.ts';
import { type ModelTestServer, startOllamaServer } from '../../test/fixtures/model-servers.ts';
import { useRedis } from '../../test/fixtures/redis.ts';
import { startTcpProxy } from '../../test/fixtures/tcp-proxy.ts';
import { createLogger } from '../log/logger.ts';
import { createModelDigest, DIGEST_REFRESH_MS } from './model-digest.ts';
import { createGenerationPipeline } from './pipeline.ts';
import type { Route } from './providers.ts';

const log = createLogger({ level: 'silent' });

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe("the local model's digest", () => {
  const r = useRedis();
  let ollama: ModelTestServer;
  beforeAll(async () => {
    ollama = await startOllamaServer();
  });
  afterAll(() => ollama.close());
  beforeEach(() => ollama.reset());

  it('is read from /api/tags, kept, and read again after the refresh period', async () => {
    const time = clock();
    const digest = createModelDigest({ url: ollama.url, model: 'llama3.2:3b', log, now: time.now });
    const first = await digest.get();
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(await digest.get()).toBe(first);
    expect(ollama.callsTo('/api/tags')).toHaveLength(1);

    ollama.repull('llama3.2:3b');
    time.advance(DIGEST_REFRESH_MS);
    // A stale digest answers at once; the new one is read in the background.
    expect(await digest.get()).toBe(first);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const second = await digest.get();
    expect(second).toMatch(/^[0-9a-f]{64}$/);
    expect(second).not.toBe(first);
  });

  it('keeps the last digest while Ollama is down, and is undefined for an unlisted model', async () => {
    const proxy = await startTcpProxy({
      host: '127.0.0.1',
      port: Number(new URL(ollama.url).port),
    });
    try {
      const time = clock();
      const url = `http://127.0.0.1:${proxy.port}`;
      const digest = createModelDigest({ url, model: 'llama3.2:3b', log, now: time.now });
      const known = await digest.get();
      await proxy.cut();
      time.advance(DIGEST_REFRESH_MS);
      await digest.get();
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await digest.get()).toBe(known);
      const unlisted = createModelDigest({ url: ollama.url, model: 'no-such-model', log });
      expect(await unlisted.get()).toBeUndefined();
    } finally {
      await proxy.close();
    }
  });

  it('makes a re-pulled model miss the answers of the old one, with no setting changed', async () => {
    const time = clock();
    const config = testConfig({ OLLAMA_URL: ollama.url }).inference;
    const calls: Route[] = [];
    const pipeline = createGenerationPipeline({
      config,
      redis: r.redis,
      prefix: r.prefix,
      log,
      layers: ['exact'],
      semanticIndex: () => Promise.reject(new Error('not used')),
      localModelDigest: createModelDigest({
        url: ollama.url,
        model: config.localModel,
        log,
        now: time.now,
      }),
      onModelCall: (route) => calls.push(route),
    });
    const ask = () =>
      pipeline.generate({
        taskType: 'summary',
        messages: [{ role: 'user', content: 'Summarise: digests name model weights.' }],
      });
    await ask();
    expect(await ask()).toMatchObject({ layer: 'exact' });
    expect(calls).toEqual(['local']);

    ollama.repull(config.localModel);
    time.advance(DIGEST_REFRESH_MS);
    await ask(); // still the old digest: read again in the background
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await ask()).layer).toBeUndefined();
    expect(calls).toEqual(['local', 'local']);
    expect(await ask()).toMatchObject({ layer: 'exact' });
  });
});
