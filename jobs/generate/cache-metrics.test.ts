import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateQueue } from '../../shared/generation/queue.ts';
import { useJobWorker } from '../../test/fixtures/job-worker.ts';
import {
  type ModelTestServer,
  startOllamaServer,
  startOpenAIServer,
} from '../../test/fixtures/model-servers.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { watchQueue } from '../../test/fixtures/queue-watch.ts';
import { estimateTokens } from './cache-savings.ts';
import { generateJob } from './index.ts';

/** The value of one sample on a `/metrics` page, its labels in any order; 0 when absent. */
function sample(page: string, name: string, labels: Record<string, string>): number {
  for (const line of page.split('\n')) {
    const match = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const got = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(match[3]);
  }
  return 0;
}

describe('per-layer cache metrics of the generate job', () => {
  const database = useTestDatabase();
  let ollama: ModelTestServer;
  let openai: ModelTestServer;
  beforeAll(async () => {
    [ollama, openai] = await Promise.all([startOllamaServer(), startOpenAIServer()]);
  });
  const worker = useJobWorker(database, { generate: generateJob }, () => ({
    OLLAMA_URL: ollama.url,
    FRONTIER_URL: openai.baseUrl,
    FRONTIER_API_KEY: openai.apiKey,
    FRONTIER_MODEL: 'gpt-4o-mini',
    MODEL_PRICES: '{"gpt-4o-mini":{"input":0.15,"output":0.6}}',
  }));
  afterAll(async () => {
    await Promise.all([ollama?.close(), openai?.close()]);
  });

  describe('after generations through a real worker', () => {
    let watch: Awaited<ReturnType<typeof watchQueue>>;
    beforeAll(async () => {
      watch = await watchQueue(worker.redis, worker.prefix, 'generate');
    });
    afterAll(async () => {
      await watch?.close();
    });

    const generate = async (taskType: 'generation' | 'summary', prompt: string) => {
      const payload = {
        apiKeyId: randomUUID(),
        cacheScope: 'metrics',
        userId: 'u',
        taskType,
        prompt,
      };
      const job = await watch.queues.add(generateQueue, payload);
      return job.waitUntilFinished(watch.events, 15_000);
    };

    it('counts a hit on its layer with the frontier price it saved, and the misses before it', async () => {
      const prompt = 'Write a limerick about a queue that never drains';
      const first = await generate('generation', prompt);
      const second = await generate('generation', prompt);
      expect(first).toMatchObject({ source: 'frontier' });
      expect(second).toMatchObject({ source: 'cache', layer: 'exact', answer: first.answer });

      const page = await worker.metrics();
      const of = (layer: string) => ({ layer, task_type: 'generation' });
      expect(sample(page, 'lowburn_cache_hits_total', of('exact'))).toBe(1);
      expect(sample(page, 'lowburn_cache_misses_total', of('precomputed'))).toBe(2);
      expect(sample(page, 'lowburn_cache_misses_total', of('exact'))).toBe(1);
      expect(sample(page, 'lowburn_cache_misses_total', of('semantic'))).toBe(1);
      const saved = (estimateTokens(prompt) * 0.15 + estimateTokens(first.answer) * 0.6) / 1e6;
      expect(saved).toBeGreaterThan(0);
      expect(sample(page, 'lowburn_cache_saved_usd_total', of('exact'))).toBeCloseTo(saved, 12);
    });

    it('counts a semantic hit of a locally routed request as saving nothing', async () => {
      await generate('summary', 'Summarize this article about red shoes');
      const hit = await generate('summary', 'Please summarise the article on red shoes');
      expect(hit).toMatchObject({ source: 'cache', layer: 'semantic' });

      const page = await worker.metrics();
      const of = (layer: string) => ({ layer, task_type: 'summary' });
      expect(sample(page, 'lowburn_cache_hits_total', of('semantic'))).toBe(1);
      expect(sample(page, 'lowburn_cache_misses_total', of('semantic'))).toBe(1);
      expect(sample(page, 'lowburn_cache_misses_total', of('exact'))).toBe(2);
      expect(page).toMatch(/^lowburn_cache_saved_usd_total\{[^}]*layer="semantic"[^}]*\} 0$/m);
    });
  });
});
