import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { InferenceConfig } from '../config/load-config.ts';
import type { Logger } from '../log/logger.ts';
import { AnswerCache, type CachedAnswer, type CacheLayer, cacheLayers } from './answer-cache.ts';
import { createEmbedBatcher, type EmbedBatcher } from './embed-batcher.ts';
import type { ModelDigest } from './model-digest.ts';
import { NoFallbackError } from './no-fallback-error.ts';
import {
  answerProblem,
  askFrontier,
  askLocal,
  embedTexts,
  type ModelAnswer,
  ModelError,
  type Route,
} from './providers.ts';
import {
  type ChatMessage,
  exactKey,
  literalFacts,
  namespaceKey,
  semanticText,
} from './request-keys.ts';
import { routeFor } from './router.ts';
import type { SemanticIndex } from './semantic-index.ts';
import { type PromptTemplate, templateKey } from './templates.ts';

/** A request with its input resolved to messages (a template already rendered). */
export interface GenerationRequest {
  taskType: string;
  messages: ChatMessage[];
  template?: { template: PromptTemplate; params: Record<string, string | number | boolean | null> };
  responseFormat?: Record<string, unknown>;
  /**
   * Whose answers this request may share. Every cache key lives under `scope` (an API key's
   * cache scope), so no answer crosses scopes — semantic ones included, by construction: each
   * namespace is an index of its own. `user` keys every layer by `userId` too (for prompts that
   * hold one user's data); `off` reads and writes no cache. @defaultValue one unscoped cache
   */
  cache?: { scope: string; mode: CacheMode; userId?: string };
}

/** How a request uses the caches: `shared` within its scope, per `user`, or `off`. */
export type CacheMode = 'shared' | 'user' | 'off';

/** How a request was answered. */
export interface GenerationOutcome {
  answer: string;
  /** Set when a cache answered. */
  layer?: CacheLayer;
  /** Set when a model answered. */
  route?: Route;
  model: string;
  tokensIn: number;
  tokensOut: number;
  costUsd: number;
  /** The local attempt that fell back to the frontier model, if any. */
  fallback?: { reason: string; message: string };
  /** A semantic near-hit refused because the prompts differ in a number or quoted string. */
  semanticRefused?: boolean;
}

export { isNoModelReachable, NoFallbackError } from './no-fallback-error.ts';

const NO_LAYERS: ReadonlySet<CacheLayer> = new Set();

export interface GenerationPipelineOptions {
  config: InferenceConfig;
  redis: Redis;
  prefix: string;
  log: Logger;
  /** Opened on first use: a process that never generates never loads the native index. */
  semanticIndex: () => Promise<SemanticIndex>;
  /** Counts model calls (tests and metrics). */
  onModelCall?: (route: Route) => void;
  /** Cache layers consulted and filled. @defaultValue every layer */
  layers?: readonly CacheLayer[];
  /** The local model's digest, part of every namespace. @defaultValue none (the version alone) */
  localModelDigest?: ModelDigest;
  /** Send every request to the frontier model (a reference configuration for benchmarks). */
  alwaysFrontier?: boolean;
}

export interface GenerationPipeline {
  generate(request: GenerationRequest, signal?: AbortSignal): Promise<GenerationOutcome>;
}

/**
 * Caches first, a local model next, the paid API last. Every cache key lives in a namespace of
 * the task type, the local model and its version, the embedding model, the template version and
 * the response schema, so changing any of them leaves old entries unmatched without a flush.
 * Only validated answers are cached.
 */
export function createGenerationPipeline(options: GenerationPipelineOptions): GenerationPipeline {
  const { config, redis, prefix, log } = options;
  const cache = new AnswerCache(redis, prefix);
  const embedder: EmbedBatcher<number[]> = createEmbedBatcher({
    embed: (inputs) => embedTexts({ url: config.ollamaUrl, model: config.embedModel }, inputs),
  });
  const inFlight = new Map<string, Promise<GenerationOutcome>>();
  const layers = new Set<CacheLayer>(options.layers ?? cacheLayers);

  const minScore = (taskType: string) =>
    config.semanticMinScore[taskType] ?? config.semanticMinScore['*'] ?? 0.95;

  const cost = (answer: ModelAnswer) => {
    if (answer.route === 'local') return 0;
    const price = config.prices[answer.model];
    if (!price) return 0;
    return (answer.tokensIn * price.input + answer.tokensOut * price.output) / 1_000_000;
  };

  const hit = (layer: CacheLayer, cached: CachedAnswer): GenerationOutcome => ({
    answer: cached.answer,
    layer,
    model: cached.model,
    tokensIn: 0,
    tokensOut: 0,
    costUsd: 0,
  });

  async function ask(route: Route, request: GenerationRequest, signal?: AbortSignal) {
    const call = { messages: request.messages, responseFormat: request.responseFormat, signal };
    options.onModelCall?.(route);
    const answer =
      route === 'local'
        ? await askLocal(
            { url: config.ollamaUrl, model: config.localModel },
            { ...call, timeoutMs: config.localTimeoutMs },
          )
        : await askFrontier(config.frontier as NonNullable<InferenceConfig['frontier']>, {
            ...call,
            timeoutMs: config.frontier?.timeoutMs ?? 60_000,
          });
    const problem = answerProblem(answer, request.responseFormat);
    if (problem) throw new ModelError(route, 'invalid', `${route} model: ${problem}`);
    return answer;
  }

  /** The model path: the routed model, and the frontier one when a local answer fails. */
  async function callModels(request: GenerationRequest, signal?: AbortSignal) {
    const routed = options.alwaysFrontier
      ? 'frontier'
      : routeFor(request.taskType, request.messages, config.route);
    // Without a paid API everything the fleet can answer, it answers locally.
    const first: Route = routed === 'frontier' && !config.frontier ? 'local' : routed;
    try {
      return { answer: await ask(first, request, signal) };
    } catch (error) {
      if (!(error instanceof ModelError) || first !== 'local') throw error;
      if (!config.frontier) throw new NoFallbackError(error);
      log.warn(
        { reason: error.reason, err: error.message },
        'local model failed; asking the frontier model',
      );
      const answer = await ask('frontier', request, signal);
      return { answer, fallback: { reason: error.reason, message: error.message } };
    }
  }

  async function generate(
    request: GenerationRequest,
    signal?: AbortSignal,
  ): Promise<GenerationOutcome> {
    const namespace = namespaceKey({
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
    const use = request.cache?.mode === 'off' ? NO_LAYERS : layers;
    const exact = exactKey(request.messages);
    const template =
      request.template && templateKey(request.template.template, request.template.params);

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
    const text = use.has('semantic') ? semanticText(request.messages) : undefined;
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
          if (cached) return hit('semantic', cached);
        }
      } catch (error) {
        // An embedder outage costs a cache layer, not the request.
        log.warn({ err: error }, 'semantic cache unavailable; skipping it');
        vector = undefined;
      }
    }

    /** The model path, then every enabled cache filled with the validated answer. */
    const answerAndFill = async (): Promise<GenerationOutcome> => {
      const { answer, fallback } = await callModels(request, signal);
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
        await cache.set('semantic', namespace, exact, cached, config.ttlMs.semantic);
        const index = await options.semanticIndex();
        await index.add(namespace, { id: exact, vector, value: text }, config.ttlMs.semantic);
      }
      return {
        answer: answer.text,
        route: answer.route,
        model: answer.model,
        tokensIn: answer.tokensIn,
        tokensOut: answer.tokensOut,
        costUsd: cost(answer),
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

  return { generate };
}
