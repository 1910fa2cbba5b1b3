import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { RedisClient } from '../redis/connections.ts';

/** Cache layers, in lookup order. */
export const cacheLayers = ['precomputed', 'exact', 'template', 'semantic'] as const;
export type CacheLayer = (typeof cacheLayers)[number];

/** A validated answer as cached: enough to finish a job without a model. */
export interface CachedAnswer {
  answer: string;
  /** The model that produced it (the cache hit itself costs nothing). */
  model: string;
  route: 'local' | 'frontier';
  createdAt: string;
}

// One byte in front says how the rest is stored: values over 1 KB are deflated.
const PLAIN = 0x6a; // 'j'
const DEFLATED = 0x7a; // 'z'
const COMPRESS_OVER = 1024;

export function encodeAnswer(value: CachedAnswer): Buffer {
  const json = Buffer.from(JSON.stringify(value));
  if (json.length <= COMPRESS_OVER) return Buffer.concat([Buffer.of(PLAIN), json]);
  return Buffer.concat([Buffer.of(DEFLATED), deflateRawSync(json)]);
}

export function decodeAnswer(stored: Buffer): CachedAnswer | undefined {
  try {
    const body = stored.subarray(1);
    const json =
      stored[0] === DEFLATED ? inflateRawSync(body) : stored[0] === PLAIN ? body : undefined;
    return json ? (JSON.parse(json.toString('utf8')) as CachedAnswer) : undefined;
  } catch {
    return undefined; // a corrupt entry is a miss, never a failed job
  }
}

/** Answers in Redis under `<prefix>:cache:<layer>:<namespace>:<key>`, each with its layer's TTL. */
export class AnswerCache {
  readonly #redis: RedisClient;
  readonly #prefix: string;

  constructor(redis: RedisClient, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
  }

  key(layer: CacheLayer, namespace: string, key: string): string {
    return `${this.#prefix}:cache:${layer}:${namespace}:${key}`;
  }

  async get(layer: CacheLayer, namespace: string, key: string): Promise<CachedAnswer | undefined> {
    const stored = await this.#redis.getBuffer(this.key(layer, namespace, key));
    return stored ? decodeAnswer(stored) : undefined;
  }

  async set(
    layer: CacheLayer,
    namespace: string,
    key: string,
    value: CachedAnswer,
    ttlMs: number,
  ): Promise<void> {
    await this.#redis.set(this.key(layer, namespace, key), encodeAnswer(value), 'PX', ttlMs);
  }
}
