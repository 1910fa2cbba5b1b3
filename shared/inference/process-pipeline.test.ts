import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../test/fixtures/config.ts';
import { type ModelTestServer, startOllamaServer } from '../../test/fixtures/model-servers.ts';
import { useRedis } from '../../test/fixtures/redis.ts';
import { createLogger } from '../log/logger.ts';
import { createWorkerConnection } from '../redis/connections.ts';
import { processGeneration } from './process-pipeline.ts';
import { semanticKeys } from './semantic-store.ts';

const log = createLogger({ level: 'silent' });

/**
 * Only a process that looks semantic entries up (one that runs `generate`) opens the index: its
 * tail connection and every entry in memory. A precompute run writes entries for the fleet
 * without it.
 */
describe("a process's generation pipeline", () => {
  const r = useRedis();
  let ollama: ModelTestServer;
  beforeAll(async () => {
    ollama = await startOllamaServer();
  });
  afterAll(() => ollama?.close());

  const tails = async () =>
    ((await r.redis.client('LIST')) as string)
      .split('\n')
      .filter((line) => line.includes(`name=lowburn-semantic-tail:${r.prefix} `)).length;

  it('precomputes into the semantic layer without opening the index; a generation opens it', async () => {
    const config = testConfig({
      QUEUE_PREFIX: r.prefix,
      OLLAMA_URL: ollama.url,
      SEMANTIC_MAX_ENTRIES: '100',
    });
    const redis = createWorkerConnection(r.target);
    const generation = processGeneration(config, redis, log);
    try {
      const request = {
        taskType: 'summary',
        messages: [{ role: 'user' as const, content: 'Summarise: the quarterly report.' }],
      };
      const outcome = await generation.precompute(request, { allowFrontier: false });
      expect(outcome.semantic).toBe(true);
      expect(await r.redis.zcard(semanticKeys(r.prefix).expiry)).toBe(1);
      expect(await tails()).toBe(0);

      const paraphrase = {
        taskType: 'summary',
        messages: [{ role: 'user' as const, content: 'Summarise:  the quarterly report' }],
      };
      const served = await generation.generate(paraphrase);
      expect(served.answer.length).toBeGreaterThan(0);
      expect(await tails()).toBe(1);
    } finally {
      await generation.close();
      await redis.quit();
    }
  });
});
