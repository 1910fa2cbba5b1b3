import type { InferenceConfig } from '../config/load-config.ts';
import type { Logger } from '../log/logger.ts';
import type { RedisClient } from '../redis/connections.ts';
import type { CacheLayer } from './answer-cache.ts';
import type { ModelDigest } from './model-digest.ts';
import type { Route } from './providers.ts';
import type { ChatMessage } from './request-keys.ts';
import type { SemanticEntryInput, SemanticIndex } from './semantic-index.ts';
import type { PromptTemplate } from './templates.ts';

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
  /** The local model's digest when it answered (as Ollama listed it then), if known. */
  localDigest?: string;
  /** The local attempt that fell back to the frontier model, if any. */
  fallback?: { reason: string; message: string };
  /** A semantic near-hit refused because the prompts differ in a number or quoted string. */
  semanticRefused?: boolean;
}

export interface GenerationPipelineOptions {
  config: InferenceConfig;
  redis: RedisClient;
  prefix: string;
  log: Logger;
  /** Opened on first use: a process that never generates never loads the native index. */
  semanticIndex: () => Promise<SemanticIndex>;
  /**
   * Stores a semantic entry for the fleet without opening the index (what a precompute run
   * writes with: it never looks one up). @defaultValue the index's own `add`
   */
  semanticWriter?: (namespace: string, entry: SemanticEntryInput, ttlMs: number) => Promise<void>;
  /** Counts model calls (tests and metrics). */
  onModelCall?: (route: Route) => void;
  /** Cache layers consulted and filled. @defaultValue every layer */
  layers?: readonly CacheLayer[];
  /** The local model's digest, part of every namespace. @defaultValue none (the version alone) */
  localModelDigest?: ModelDigest;
  /** Send every request to the frontier model (a reference configuration for benchmarks). */
  alwaysFrontier?: boolean;
}

/** Where a request's answers live in the caches. */
export interface RequestKeys {
  namespace: string;
  /** The exact (and precomputed) key: the normalised messages. */
  exact: string;
  /** The template key, for template requests. */
  template?: string;
  /** The text the semantic layer embeds; unset for multi-turn requests. */
  semanticText?: string;
}

/** How a precompute answer was made and where it went. */
export interface PrecomputeOutcome {
  route: Route;
  model: string;
  tokensIn: number;
  tokensOut: number;
  costUsd: number;
  /** Lifetime given to the entries: CACHE_TTL_PRECOMPUTED ± 10 %. */
  ttlMs: number;
  /** Entered in the semantic index too (single-turn prompts). */
  semantic: boolean;
}

/** How one generation may use the models. */
export interface GenerateOptions {
  /**
   * Asked right before any frontier call (the user's daily budget, re-checked in the worker):
   * `false` keeps the request on the local model. @defaultValue always allowed
   */
  frontierAllowed?: () => Promise<boolean>;
}

export interface GenerationPipeline {
  generate(
    request: GenerationRequest,
    signal?: AbortSignal,
    options?: GenerateOptions,
  ): Promise<GenerationOutcome>;
  /** The namespace and keys a request is cached under (the model's digest included). */
  keysOf(request: GenerationRequest): Promise<RequestKeys>;
  /**
   * Answers a request ahead of demand into the `precomputed` layer (and the template and
   * semantic ones, with the same lifetime): no cache is read; the local model answers, the
   * frontier one only when `allowFrontier` and the local answer failed. A model error (an
   * invalid answer included) is thrown and nothing is stored.
   */
  precompute(
    request: GenerationRequest,
    options: { allowFrontier: boolean; signal?: AbortSignal },
  ): Promise<PrecomputeOutcome>;
}
