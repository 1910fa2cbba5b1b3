import type { Redis } from 'ioredis';
import type { Config } from '../config/load-config.ts';
import type { Logger } from '../log/logger.ts';
import { createModelDigest } from './model-digest.ts';
import { createGenerationPipeline, type GenerationPipeline } from './pipeline.ts';
import type { SemanticIndex } from './semantic-index.ts';

/** A process's generation pipeline and what it opened, closed with the process. */
export interface ProcessGeneration extends GenerationPipeline {
  close(): Promise<void>;
}

/**
 * The process's one generation pipeline. The semantic index (a native HNSW index, a Redis
 * connection of its own, and the fleet's entries loaded into memory) opens at the first
 * generation: a worker that never runs `generate` never pays for it. The local model's digest
 * (read from Ollama every few minutes) is part of every cache namespace.
 */
export function processGeneration(config: Config, redis: Redis, log: Logger): ProcessGeneration {
  let index: Promise<SemanticIndex> | undefined;
  let pipeline: GenerationPipeline | undefined;
  const localModelDigest = createModelDigest({
    url: config.inference.ollamaUrl,
    model: config.inference.localModel,
    log,
  });
  const semanticIndex = () => {
    index ??= (async () => {
      const { createSemanticIndex } = await import('./semantic-index.ts');
      const created = createSemanticIndex({
        redis,
        prefix: config.queuePrefix,
        dimensions: config.inference.embedDimensions,
        ttlMs: config.inference.ttlMs.semantic,
        onError: (error) => log.warn({ err: error }, 'semantic index background error'),
      });
      return created;
    })();
    return index;
  };
  return {
    generate(request, signal) {
      pipeline ??= createGenerationPipeline({
        config: config.inference,
        redis,
        prefix: config.queuePrefix,
        log,
        semanticIndex,
        localModelDigest,
      });
      return pipeline.generate(request, signal);
    },
    async close() {
      if (index) await (await index).close();
    },
  };
}
