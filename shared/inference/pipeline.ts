import { setTimeout as sleep } from 'node:timers/promises';
import { AnswerCache, type CachedAnswer, type CacheLayer, cacheLayers } from './answer-cache.ts';
import { createEmbedBatcher, type EmbedBatcher } from './embed-batcher.ts';
import type {
  GenerateOptions,
  GenerationOutcome,
  GenerationPipeline,
  GenerationPipelineOptions,
  GenerationRequest,
  PrecomputeOutcome,
  RequestKeys,
} from './generation-types.ts';
import { createModelCalls } from './model-calls.ts';
import { modelServersFor } from './model-servers.ts';
import { createNamespaceRegistry } from './namespace-registry.ts';
import { embedTexts } from './providers.ts';
import { exactKey, literalFacts, semanticText } from './request-keys.ts';
import { templateKey } from './templates.ts';

export { FrontierBudgetError } from './frontier-budget-error.ts';
export type {
  CacheMode,
  GenerateOptions,
  GenerationOutcome,
  GenerationPipeline,
  GenerationPipelineOptions,
  GenerationRequest,
  PrecomputeOutcome,
  RequestKeys,
} from './generation-types.ts';
export { isNoModelReachable, NoFallbackError } from './no-fallback-error.ts';

const NO_LAYERS: ReadonlySet<CacheLayer> = new Set();

/**
 * Caches first, a local model next, the paid API last. Every cache key lives in a namespace of
 * the task type, the local model and its version, the embedding model, the template version and
 * the response schema, so changing any of them leaves old entries unmatched without a flush.
 * Only validated answers are cached.
 */
export function createGenerationPipeline(options: GenerationPipelineOptions): GenerationPipeline {
  const { config, redis, prefix, log } = options;
  const cache = new AnswerCache(redis, prefix);
  const servers = modelServersFor(config, log);
  const embedder: EmbedBatcher<number[]> = createEmbedBatcher({
    embed: (inputs) =>
      servers.run((url) =>
        embedTexts({ url, model: config.embedModel, timeoutMs: config.localTimeoutMs }, inputs),
      ),
  });
  const inFlight = new Map<string, Promise<GenerationOutcome>>();
  const layers = new Set<CacheLayer>(options.layers ?? cacheLayers);
  // Lists each namespace's parts, so a purge can find them by task type, template or scope.
  const registry = createNamespaceRegistry({ redis, prefix, ttlMs: config.ttlMs });

  const minScore = (taskType: string) =>
    config.semanticMinScore[taskType] ?? config.semanticMinScore['*'] ?? 0.95;

  const models = createModelCalls(config, log, options.onModelCall);

  const hit = (layer: CacheLayer, cached: CachedAnswer): GenerationOutcome => ({
    answer: cached.answer,
    layer,
    model: cached.model,
    tokensIn: 0,
    tokensOut: 0,
    costUsd: 0,
  });

  /**
   * The answer under its exact key in the semantic layer, and its prompt in every index. A
   * precompute run writes without opening this process's index (`viaIndex` false): only the
   * processes that look entries up hold them in memory.
   */
  async function fillSemantic(
    namespace: string,
    exact: string,
    text: string,
    vector: number[],
    cached: CachedAnswer,
    ttlMs: number,
    viaIndex = true,
  ) {
    await cache.set('semantic', namespace, exact, cached, ttlMs);
    const entry = { id: exact, vector, value: text };
    if (!viaIndex && options.semanticWriter) {
      await options.semanticWriter(namespace, entry, ttlMs);
      return;
    }
    const index = await options.semanticIndex();
    await index.add(namespace, entry, ttlMs);
  }

  const callModels = (
    request: GenerationRequest,
    signal: AbortSignal | undefined,
    frontierAllowed: GenerateOptions['frontierAllowed'],
  ) =>
    models.call(request, {
      ...(options.alwaysFrontier && { firstRoute: 'frontier' as const }),
      signal,
      frontierAllowed,
    });

  async function keysOf(request: GenerationRequest): Promise<RequestKeys> {
    const namespace = await registry.register({
      taskType: request.taskType,
      localModel: config.localModel,
      localModelVersion: config.localModelVersion,
      localModelDigest: await options.localModelDigest?.get(),
      embedModel: config.embedModel,
      template:
        request.template && `${request.template.template.id}@${request.template.template.version}`,
      responseFormat: request.responseFormat,
      scope: request.cache?.scope,
      user: request.cache?.mode === 'user' ? (request.cache.userId ?? '') : undefined,
    });
    const template =
      request.template && templateKey(request.template.template, request.template.params);
    const text = semanticText(request.messages);
    return {
      namespace,
      exact: exactKey(request.messages),
      ...(template && { template }),
      ...(text !== undefined && { semanticText: text }),
    };
  }

  async function generate(
    request: GenerationRequest,
    signal?: AbortSignal,
    generateOptions: GenerateOptions = {},
  ): Promise<GenerationOutcome> {
    const keys = await keysOf(request);
    const { namespace, exact, template } = keys;
    const use = request.cache?.mode === 'off' ? NO_LAYERS : layers;
    for (const [layer, key] of [
      ['precomputed', exact],
      ['exact', exact],
      ...(template ? [['template', template] as const] : []),
    ] as const) {
      if (!use.has(layer)) continue;
      const cached = await cache.get(layer, namespace, key);
      if (cached) return hit(layer, cached);
    }

    // Semantic: one-turn prompts only, and only when the literal facts match too.
    const text = use.has('semantic') ? keys.semanticText : undefined;
    let vector: number[] | undefined;
    let semanticRefused = false;
    if (text) {
      try {
        vector = await embedder.embed(text);
        const index = await options.semanticIndex();
        const match = index.nearest(namespace, vector, { minScore: minScore(request.taskType) });
        if (
          match &&
          match.value !== undefined &&
          literalFacts(match.value) !== literalFacts(text)
        ) {
          semanticRefused = true;
        } else if (match) {
          const cached = await cache.get('semantic', namespace, match.id);
          if (cached) {
            // What SEMANTIC_MAX_ENTRIES keeps: the entries that answer requests.
            index.hit(namespace, match.id);
            return hit('semantic', cached);
          }
        }
      } catch (error) {
        // An embedder outage costs a cache layer, not the request.
        log.warn({ err: error }, 'semantic cache unavailable; skipping it');
        vector = undefined;
      }
    }

    /** The model path, then every enabled cache filled with the validated answer. */
    const answerAndFill = async (): Promise<GenerationOutcome> => {
      const { answer, fallback } = await callModels(
        request,
        signal,
        generateOptions.frontierAllowed,
      );
      const cached: CachedAnswer = {
        answer: answer.text,
        model: answer.model,
        route: answer.route,
        createdAt: new Date().toISOString(),
      };
      if (use.has('exact')) await cache.set('exact', namespace, exact, cached, config.ttlMs.exact);
      if (template && use.has('template')) {
        await cache.set('template', namespace, template, cached, config.ttlMs.exact);
      }
      if (text && vector) {
        await fillSemantic(namespace, exact, text, vector, cached, config.ttlMs.semantic);
      }
      const localDigest =
        answer.route === 'local' ? await options.localModelDigest?.get() : undefined;
      return {
        answer: answer.text,
        route: answer.route,
        ...(localDigest && { localDigest }),
        model: answer.model,
        tokensIn: answer.tokensIn,
        tokensOut: answer.tokensOut,
        costUsd: models.cost(answer),
        ...(fallback && { fallback }),
        ...(semanticRefused && { semanticRefused }),
      };
    };
    // Without an exact cache there is nothing to share an answer through.
    if (!use.has('exact')) return answerAndFill();

    // Single flight: identical requests in flight make one model call — in this process by
    // sharing the promise, across the fleet by a Redis lock whose losers wait for the answer.
    const flightKey = `${namespace}:${exact}`;
    const shared = inFlight.get(flightKey);
    if (shared) {
      const { answer, model } = await shared;
      return { answer, model, layer: 'exact', tokensIn: 0, tokensOut: 0, costUsd: 0 };
    }
    const run = (async (): Promise<GenerationOutcome> => {
      const lock = `${prefix}:inflight:${flightKey}`;
      const lockMs = config.localTimeoutMs + (config.frontier?.timeoutMs ?? 0) + 5_000;
      const owner = `${process.pid}:${Math.random()}`;
      if ((await redis.set(lock, owner, 'PX', lockMs, 'NX')) !== 'OK') {
        const waited = await waitForAnswer(lock, namespace, exact, lockMs, signal);
        if (waited) return hit('exact', waited);
      }
      try {
        return await answerAndFill();
      } finally {
        // Only our own lock: compare-and-delete.
        await redis
          .eval(
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0",
            1,
            lock,
            owner,
          )
          .catch(() => {});
      }
    })();
    inFlight.set(flightKey, run);
    try {
      return await run;
    } finally {
      inFlight.delete(flightKey);
    }
  }

  /** Waits while another worker holds the lock; its answer lands in the exact cache. */
  async function waitForAnswer(
    lock: string,
    namespace: string,
    exact: string,
    maxMs: number,
    signal?: AbortSignal,
  ): Promise<CachedAnswer | undefined> {
    const deadline = Date.now() + maxMs;
    while (Date.now() < deadline) {
      signal?.throwIfAborted();
      const cached = await cache.get('exact', namespace, exact);
      if (cached) return cached;
      if ((await redis.exists(lock)) === 0) return cache.get('exact', namespace, exact);
      await sleep(25);
    }
    return undefined;
  }

  async function precompute(
    request: GenerationRequest,
    { allowFrontier, signal }: { allowFrontier: boolean; signal?: AbortSignal },
  ): Promise<PrecomputeOutcome> {
    const { namespace, exact, template, semanticText: text } = await keysOf(request);
    const { answer } = await models.call(request, {
      firstRoute: 'local',
      fallback: allowFrontier,
      signal,
    });
    // ± 10 %: a night's entries must not all expire in the same minute.
    const ttlMs = Math.round(config.ttlMs.precomputed * (0.9 + Math.random() * 0.2));
    const cached: CachedAnswer = {
      answer: answer.text,
      model: answer.model,
      route: answer.route,
      createdAt: new Date().toISOString(),
    };
    await cache.set('precomputed', namespace, exact, cached, ttlMs);
    if (template) await cache.set('template', namespace, template, cached, ttlMs);
    let semantic = false;
    if (text) {
      try {
        const vector = await embedder.embed(text);
        await fillSemantic(namespace, exact, text, vector, cached, ttlMs, false);
        semantic = true;
      } catch (error) {
        // The exact answer is stored; a paraphrase will miss until the embedder is back.
        log.warn(
          { err: error },
          'semantic cache unavailable; precomputed answer stored without it',
        );
      }
    }
    return {
      route: answer.route,
      model: answer.model,
      tokensIn: answer.tokensIn,
      tokensOut: answer.tokensOut,
      costUsd: models.cost(answer),
      ttlMs,
      semantic,
    };
  }

  return { generate, keysOf, precompute };
}
