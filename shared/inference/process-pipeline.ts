import type { Config } from '../config/load-config.ts';
import type { Logger } from '../log/logger.ts';
import type { RedisClient } from '../redis/connections.ts';
import { modelServersFor } from './model-servers.ts';
import type { GenerationPipeline } from './pipeline.ts';
import type { SemanticIndex } from './semantic-index.ts';

/** A process's generation pipeline and what it opened, closed with the process. */
export interface ProcessGeneration extends GenerationPipeline {
  close(): Promise<void>;
}

/**
 * The process's one generation pipeline. The pipeline's modules (the Ollama client and ajv,
 * ~13 MB of RSS together) load at the first generation, and the semantic index (a native HNSW
 * index, a Redis connection of its own, and the fleet's entries loaded into memory) opens then
 * too: a worker that never runs `generate`, or an idle one, never pays for either. The local
 * model's digest (read from Ollama every few minutes) is part of every cache namespace.
 */
export function processGeneration(
  config: Config,
  redis: RedisClient,
  log: Logger,
  hooks: {
    /** A digest read found a new one for the local model (the model-versions ledger). */
    onLocalModelDigest?: (digest: string) => void;
  } = {},
): ProcessGeneration {
  let index: Promise<SemanticIndex> | undefined;
  let pipeline: Promise<GenerationPipeline> | undefined;
  const semanticIndex = () => {
    index ??= (async () => {
      const { createSemanticIndex } = await import('./semantic-index.ts');
      const created = createSemanticIndex({
        redis,
        prefix: config.queuePrefix,
        dimensions: config.inference.embedDimensions,
        ttlMs: config.inference.ttlMs.semantic,
        maxEntries: config.inference.semanticMaxEntries,
        onError: (error) => log.warn({ err: error }, 'semantic index background error'),
      });
      return created;
    })();
    return index;
  };
  const open = async () => {
    const [{ createGenerationPipeline }, { createModelDigest }] = await Promise.all([
      import('./pipeline.ts'),
      import('./model-digest.ts'),
    ]);
    return createGenerationPipeline({
      config: config.inference,
      redis,
      prefix: config.queuePrefix,
      log,
      semanticIndex,
      semanticWriter: async (namespace, entry, ttlMs) => {
        const { writeSemanticEntry, STREAM_RETENTION_MS } = await import('./semantic-write.ts');
        await writeSemanticEntry(
          {
            redis,
            prefix: config.queuePrefix,
            dimensions: config.inference.embedDimensions,
            streamRetentionMs: STREAM_RETENTION_MS,
            maxEntries: config.inference.semanticMaxEntries,
          },
          namespace,
          entry,
          ttlMs,
        );
      },
      localModelDigest: createModelDigest({
        servers: modelServersFor(config.inference, log),
        model: config.inference.localModel,
        log,
        onChange: (digest) => {
          if (digest) hooks.onLocalModelDigest?.(digest);
        },
      }),
    });
  };
  const opened = () => {
    pipeline ??= open();
    return pipeline;
  };
  return {
    generate: async (request, signal, options) =>
      (await opened()).generate(request, signal, options),
    keysOf: async (request) => (await opened()).keysOf(request),
    precompute: async (request, options) => (await opened()).precompute(request, options),
    async close() {
      if (index) await (await index).close();
    },
  };
}
