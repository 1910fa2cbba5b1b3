import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { testConfig } from '../../test/fixtures/config.ts';
import {
  type ModelTestServer,
  startOllamaServer,
  startOpenAIServer,
} from '../../test/fixtures/model-servers.ts';
import { useRedis } from '../../test/fixtures/redis.ts';
import type { InferenceConfig } from '../config/load-config.ts';
import { createLogger } from '../log/logger.ts';
import { AnswerCache } from './answer-cache.ts';
import {
  createGenerationPipeline,
  type GenerationPipeline,
  type GenerationRequest,
  NoFallbackError,
} from './pipeline.ts';
import type { Route } from './providers.ts';
import { exactKey, namespaceKey } from './request-keys.ts';
import { createSemanticIndex, type SemanticIndex } from './semantic-index.ts';
import { defineTemplate, renderTemplate } from './templates.ts';

const log = createLogger({ level: 'silent' });

const productTitle = defineTemplate({
  id: 'product-title',
  version: '1',
  taskType: 'formatting',
  params: {
    product: { case: 'insensitive' },
    requestId: { affectsOutput: false, required: false },
  },
  render: (p) => `Write a short product title for: ${p.product}`,
});

describe('the generation pipeline', () => {
  const r = useRedis();
  let ollama: ModelTestServer;
  let openai: ModelTestServer;
  const indexes: SemanticIndex[] = [];
  const calls: Route[] = [];

  beforeAll(async () => {
    [ollama, openai] = await Promise.all([startOllamaServer(), startOpenAIServer()]);
  });
  afterAll(async () => {
    await Promise.all([ollama.close(), openai.close()]);
  });
  beforeEach(() => {
    ollama.reset();
    openai.reset();
    calls.length = 0;
  });
  afterEach(async () => {
    for (const index of indexes.splice(0)) await index.close();
  });

  function inference(overrides: Record<string, string> = {}): InferenceConfig {
    return testConfig({
      OLLAMA_URL: ollama.url,
      FRONTIER_URL: openai.baseUrl,
      FRONTIER_API_KEY: openai.apiKey,
      FRONTIER_MODEL: 'gpt-4o-mini',
      LOCAL_TIMEOUT: '500ms',
      MODEL_PRICES: '{"gpt-4o-mini":{"input":0.15,"output":0.6}}',
      ...overrides,
    }).inference;
  }

  function pipeline(overrides: Record<string, string> = {}): GenerationPipeline {
    const config = inference(overrides);
    let index: Promise<SemanticIndex> | undefined;
    return createGenerationPipeline({
      config,
      redis: r.redis,
      prefix: r.prefix,
      log,
      semanticIndex: () => {
        index ??= (async () => {
          const created = createSemanticIndex({
            redis: r.redis,
            prefix: r.prefix,
            dimensions: config.embedDimensions,
          });
          indexes.push(created);
          await created.ready;
          return created;
        })();
        return index;
      },
      onModelCall: (route) => calls.push(route),
    });
  }

  const prompt = (taskType: string, text: string): GenerationRequest => ({
    taskType,
    messages: [{ role: 'user', content: text }],
  });

  it('answers locally once, then from the exact cache (whitespace aside)', async () => {
    const p = pipeline();
    const first = await p.generate(prompt('summary', 'Summarise: the cat sat on the mat.'));
    expect(first).toMatchObject({ route: 'local', model: 'llama3.2:3b', costUsd: 0 });
    expect(first.tokensIn).toBeGreaterThan(0);
    const second = await p.generate(prompt('summary', '  Summarise:   the cat sat on the mat. '));
    expect(second).toMatchObject({ layer: 'exact', answer: first.answer, costUsd: 0 });
    expect(calls).toEqual(['local']);
  });

  it('answers from a precomputed entry first, and stores long answers compressed', async () => {
    const config = inference();
    const request = prompt('summary', 'Summarise the top question of the week');
    const cache = new AnswerCache(r.redis, r.prefix);
    const namespace = namespaceKey({
      taskType: 'summary',
      localModel: config.localModel,
      localModelVersion: config.localModelVersion,
      embedModel: config.embedModel,
    });
    const long = 'A precomputed answer. '.repeat(100);
    await cache.set(
      'precomputed',
      namespace,
      exactKey(request.messages),
      { answer: long, model: 'llama3.2:3b', route: 'local', createdAt: new Date().toISOString() },
      60_000,
    );
    expect(await pipeline().generate(request)).toMatchObject({
      layer: 'precomputed',
      answer: long,
    });
    expect(calls).toEqual([]);
    const raw = await r.redis.getBuffer(
      cache.key('precomputed', namespace, exactKey(request.messages)),
    );
    expect(String.fromCharCode(raw?.[0] ?? 0)).toBe('z');
    expect(raw?.length).toBeLessThan(long.length / 4);
  });

  it('shares a template answer across parameters that do not change it', async () => {
    const p = pipeline();
    const request = (product: string, requestId: string): GenerationRequest => {
      const params = { product, requestId };
      return {
        taskType: 'formatting',
        messages: [{ role: 'user', content: renderTemplate(productTitle, params) }],
        template: { template: productTitle, params },
      };
    };
    const first = await p.generate(request('Red Shoes ', 'a'));
    const second = await p.generate(request('red shoes', 'b'));
    expect(second).toMatchObject({ layer: 'template', answer: first.answer });
    expect(calls).toEqual(['local']);
    // A template version bump is a new namespace: no hit.
    const v2 = { ...productTitle, version: '2' };
    const third = await p.generate({
      ...request('red shoes', 'c'),
      template: { template: v2, params: { product: 'red shoes' } },
    });
    expect(third.layer).toBeUndefined();
  });

  it('serves a paraphrase from the semantic layer, never a prompt with another number', async () => {
    const p = pipeline();
    const first = await p.generate(prompt('summary', 'Summarize this article about red shoes'));
    const paraphrase = await p.generate(
      prompt('summary', 'Please summarise the article on red shoes'),
    );
    expect(paraphrase).toMatchObject({ layer: 'semantic', answer: first.answer });

    await p.generate(prompt('classification', 'Is an order of 10 units a bulk order?'));
    const other = await p.generate(
      prompt('classification', 'Is an order of 12 units a bulk order?'),
    );
    expect(other.layer).toBeUndefined();
    expect(calls).toEqual(['local', 'local', 'local']);
  });

  it('never uses the semantic layer for a multi-turn chat', async () => {
    const p = pipeline();
    const chat = (last: string): GenerationRequest => ({
      taskType: 'summary',
      messages: [
        { role: 'user', content: 'Summarize this article about red shoes' },
        { role: 'assistant', content: 'Red shoes are popular.' },
        { role: 'user', content: last },
      ],
    });
    await p.generate(chat('Now make it shorter'));
    const again = await p.generate(chat('Now make it briefer please'));
    expect(again.layer).toBeUndefined();
    expect(ollama.callsTo('/api/embed')).toHaveLength(0);
  });

  it('misses every cache after a local model version change', async () => {
    await pipeline().generate(prompt('summary', 'Summarise the quarterly report'));
    const retrained = await pipeline({ LOCAL_MODEL_VERSION: '2' }).generate(
      prompt('summary', 'Summarise the quarterly report'),
    );
    expect(retrained.layer).toBeUndefined();
    expect(calls).toEqual(['local', 'local']);
  });

  it.each([
    ['an error', { status: 500, error: 'model crashed' }, 'error'],
    ['a timeout', { hang: true }, 'timeout'],
    ['a cut-off answer', { truncated: true }, 'invalid'],
  ])('falls back to the frontier model on %s', async (_, behaviour, reason) => {
    ollama.script({ path: '/api/chat', ...behaviour });
    const outcome = await pipeline().generate(prompt('summary', `Summarise note ${reason}`));
    expect(outcome).toMatchObject({
      route: 'frontier',
      model: 'gpt-4o-mini',
      fallback: { reason },
    });
    expect(outcome.costUsd).toBeCloseTo(
      (outcome.tokensIn * 0.15 + outcome.tokensOut * 0.6) / 1e6,
      12,
    );
    expect(outcome.costUsd).toBeGreaterThan(0);
    expect(calls).toEqual(['local', 'frontier']);
  });

  it('falls back when the local answer does not satisfy responseFormat', async () => {
    ollama.script({ path: '/api/chat', invalidJson: true });
    const responseFormat = {
      type: 'object',
      properties: { label: { type: 'string' } },
      required: ['label'],
    };
    const outcome = await pipeline().generate({
      ...prompt('classification', 'Classify: refund please'),
      responseFormat,
    });
    expect(outcome).toMatchObject({ route: 'frontier', fallback: { reason: 'invalid' } });
    expect(JSON.parse(outcome.answer)).toHaveProperty('label');
  });

  it('falls back when the local model runs on past the largest answer a generation keeps', async () => {
    ollama.script({ path: '/api/chat', content: 'all work and no play '.repeat(20_000) });
    const outcome = await pipeline().generate(prompt('summary', 'Summarise a long story'));
    expect(outcome).toMatchObject({ route: 'frontier', fallback: { reason: 'invalid' } });
    expect(outcome.fallback?.message).toMatch(/the answer is 420000 bytes, more than the 262144/);
  });

  it('fails with a clear error when the local model fails and no fallback is configured', async () => {
    ollama.script({ path: '/api/chat', status: 500, error: 'out of memory' });
    const p = pipeline({ FRONTIER_URL: '', FRONTIER_API_KEY: '' });
    await expect(p.generate(prompt('summary', 'Summarise x'))).rejects.toThrow(NoFallbackError);
    ollama.script({ path: '/api/chat', status: 500, error: 'out of memory' });
    await expect(p.generate(prompt('summary', 'Summarise x'))).rejects.toThrow(
      /no frontier fallback is configured \(set FRONTIER_URL and FRONTIER_API_KEY/,
    );
  });

  it('routes hard reasoning to the frontier model and routine work locally', async () => {
    const p = pipeline();
    await p.generate(prompt('qa', 'What is the capital of France?'));
    await p.generate(
      prompt(
        'diagnosis',
        'Explain why this fails step by step and compare the trade-offs: ```SELECT * FROM t``` ? ? ?',
      ),
    );
    await p.generate(prompt('generation', 'Write a poem'));
    expect(calls).toEqual(['local', 'frontier', 'frontier']);
  });

  it('makes one model call for identical requests in flight, in one process and across two', async () => {
    ollama.handle(() => ({ delayMs: 200 }));
    const a = pipeline();
    const b = pipeline();
    const request = prompt('summary', 'Summarise the incident report of last night');
    const outcomes = await Promise.all([
      a.generate(request),
      a.generate(request),
      b.generate(request),
    ]);
    expect(new Set(outcomes.map((o) => o.answer)).size).toBe(1);
    expect(ollama.callsTo('/api/chat')).toHaveLength(1);
    expect(outcomes.filter((o) => o.route === 'local')).toHaveLength(1);
  });
});
