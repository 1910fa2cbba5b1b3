import { setTimeout as sleep, setImmediate as yieldToLoop } from 'node:timers/promises';
import { duplicateConnection, type RedisClient } from '../redis/connections.ts';
import {
  type DecodedEntry,
  decodeHash,
  decodeLogRecord,
  decodeVector,
  semanticKeys,
} from './semantic-store.ts';
import {
  createHitBuffer,
  recordSemanticHits,
  type SemanticEntryInput,
  STREAM_RETENTION_MS,
  writeSemanticEntry,
} from './semantic-write.ts';
import {
  createVectorNamespaces,
  type VectorEntry,
  type VectorMatch,
  type VectorNamespacesOptions,
} from './vector-namespaces.ts';

export type { SemanticEntryInput } from './semantic-write.ts';

export interface SemanticIndexOptions extends VectorNamespacesOptions {
  /**
   * For writes and the startup load. The index also opens one connection of its own (a
   * duplicate of this one) that blocks on the additions stream; `close()` ends it.
   */
  redis: RedisClient;
  /** Keys live under `<prefix>:semantic:`. */
  prefix: string;
  /** Lifetime of an entry added without its own TTL. @defaultValue 3_600_000 (1 h) */
  ttlMs?: number;
  /**
   * How long additions stay in the broadcast stream. A worker that falls further behind than
   * this (a load longer than this) misses entries until its next restart. @defaultValue 600_000
   */
  streamRetentionMs?: number;
  /** How often expired entries are dropped from memory. @defaultValue 30_000 */
  sweepIntervalMs?: number;
  /** Called with errors of the background load and tail (which retry on their own). */
  onError?: (error: unknown) => void;
  /**
   * Most entries a namespace keeps, fleet-wide: an addition past it evicts the namespace's
   * least recently hit entries from Redis and, through the stream, from every worker's memory.
   * @defaultValue 0 (no cap)
   */
  maxEntries?: number;
  /** How often hits are written to the namespaces' hit order (one pipeline). @defaultValue 1_000 */
  hitFlushMs?: number;
}

export interface SemanticIndex {
  /** Resolves once the entries live in Redis at start are loaded and the tail runs (never rejects). */
  readonly ready: Promise<void>;
  /** Stores an entry in Redis, broadcasts it to the fleet and indexes it here at once. */
  add(namespace: string, entry: SemanticEntryInput, ttlMs?: number): Promise<void>;
  /** The nearest live entry of `namespace` scoring at least `minScore` (cosine); in memory only. */
  nearest(
    namespace: string,
    vector: Float32Array | readonly number[],
    options: { minScore: number },
  ): VectorMatch | undefined;
  /**
   * Records that an entry answered a request (kept in memory, written every `hitFlushMs`):
   * what `maxEntries` evicts by. Cheap: one map write.
   */
  hit(namespace: string, id: string): void;
  /** Writes the hits recorded so far (as the timer does, and `close()`). */
  flushHits(): Promise<void>;
  /** Live entries held in this process. */
  size(): number;
  /** Stops the tail and the sweep; the `redis` connection passed in stays open. */
  close(): Promise<void>;
}

const LOAD_BATCH = 256;
const READ_COUNT = 256;
// A blocked XREAD ends on close() by disconnect, so this only bounds how long one read waits.
const BLOCK_MS = 5_000;
const RETRY_MS = 500;

/**
 * A per-worker in-memory vector index (usearch HNSW, one per namespace) kept consistent across
 * the fleet through Redis: every entry is a hash with a TTL (vector packed as float16 or
 * float32), indexed by expiry in a sorted set for startup loads, and announced on a stream that
 * each process tails with XREAD BLOCK, so an entry added by one worker is found by the others
 * within a read's round trip. A stream, unlike pub/sub, keeps what was sent while a connection
 * was down: the tail resumes from the last id it saw. Removals (`removeSemanticEntries`, a
 * cache purge) travel the same stream, so every worker drops a purged entry in that time too.
 * With `maxEntries`, an addition past a namespace's cap evicts its least recently hit entries
 * (hits are batched in memory and written every `hitFlushMs`) as such a removal: memory has a
 * ceiling per namespace, the same on every worker.
 *
 * @example
 * const index = createSemanticIndex({ redis, prefix: 'lowburn', dimensions: 768 });
 * await index.ready;
 * await index.add('summary|llama3.2@3|nomic', { id: hash, vector, value: prompt }, 3_600_000);
 * const hit = index.nearest('summary|llama3.2@3|nomic', queryVector, { minScore: 0.95 });
 */
export function createSemanticIndex(options: SemanticIndexOptions): SemanticIndex {
  const { redis, prefix, dimensions } = options;
  const defaultTtl = options.ttlMs ?? 3_600_000;
  const retention = options.streamRetentionMs ?? STREAM_RETENTION_MS;
  const onError = options.onError ?? (() => {});
  const keys = semanticKeys(prefix);
  const namespaces = createVectorNamespaces(options);
  const stop = new AbortController();
  const reader = duplicateConnection(redis, {
    connectionName: `lowburn-semantic-tail:${prefix}`,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    commandTimeout: undefined,
  });
  reader.on('error', () => {}); // reconnects on its own; the tail reports failed reads
  const sweep = setInterval(() => namespaces.evictExpired(), options.sweepIntervalMs ?? 30_000);
  sweep.unref();
  const writer = { ...options, streamRetentionMs: retention };
  const hits = createHitBuffer(prefix);
  const flushHits = () => recordSemanticHits(redis, hits.take());
  const hitTimer = setInterval(() => {
    flushHits().catch(onError);
  }, options.hitFlushMs ?? 1_000);
  hitTimer.unref();

  const insert = (decoded: DecodedEntry[]) => {
    if (decoded.length === 0) return;
    const matrix = new Float32Array(decoded.length * dimensions);
    decoded.forEach((d, i) => {
      decodeVector(d.vector, dimensions, matrix, i * dimensions);
    });
    namespaces.insert(
      decoded.map((d) => d.entry),
      matrix,
    );
  };

  /** Loads live entries; returns the stream id to tail from (taken first, so nothing is missed). */
  const load = async (): Promise<string> => {
    const [last] = await redis.xrevrange(keys.stream, '+', '-', 'COUNT', 1);
    const live = await redis.zrangebyscore(keys.expiry, Date.now(), '+inf');
    for (let i = 0; i < live.length && !stop.signal.aborted; i += LOAD_BATCH) {
      const batch = live.slice(i, i + LOAD_BATCH);
      const pipeline = redis.pipeline();
      for (const key of batch) pipeline.hgetallBuffer(keys.entry(key));
      const results = (await pipeline.exec()) ?? [];
      insert(
        results.flatMap(([error, hash], j) => {
          const decoded = error
            ? undefined
            : decodeHash(batch[j]!, hash as Record<string, Buffer>, dimensions);
          return decoded ? [decoded] : [];
        }),
      );
      // Inserting blocks the event loop; let jobs and lookups run between batches.
      await yieldToLoop();
    }
    return last?.[0] ?? '0-0';
  };

  const tail = async (from: string) => {
    let lastId = from;
    while (!stop.signal.aborted) {
      try {
        const streams = await reader.xreadBuffer(
          'COUNT',
          READ_COUNT,
          'BLOCK',
          BLOCK_MS,
          'STREAMS',
          keys.stream,
          lastId,
        );
        for (const [, messages] of streams ?? []) {
          const decoded: DecodedEntry[] = [];
          for (const [id, fields] of messages) {
            lastId = id.toString();
            const record = decodeLogRecord(fields, dimensions);
            if (record.added) decoded.push(record.added);
            if (record.removed) {
              // In stream order: what was added before the removal goes in first.
              insert(decoded.splice(0));
              for (const key of record.removed) namespaces.remove(key);
            }
          }
          insert(decoded);
        }
      } catch (error) {
        if (stop.signal.aborted) return;
        onError(error);
        await sleep(RETRY_MS, undefined, { signal: stop.signal }).catch(() => {});
      }
    }
  };

  let tailing: Promise<void> = Promise.resolve();
  const ready = (async () => {
    while (!stop.signal.aborted) {
      try {
        const from = await load();
        tailing = tail(from);
        return;
      } catch (error) {
        if (stop.signal.aborted) return;
        onError(error);
        await sleep(RETRY_MS, undefined, { signal: stop.signal }).catch(() => {});
      }
    }
  })();

  return {
    ready,

    async add(namespace, input, ttlMs = defaultTtl) {
      const { key, expiresAt } = await writeSemanticEntry(writer, namespace, input, ttlMs);
      const { id, value } = input;
      const entry: VectorEntry = {
        key,
        namespace,
        id,
        expiresAt,
        ...(value === undefined ? {} : { value }),
      };
      namespaces.insert([entry], Float32Array.from(input.vector));
    },

    nearest: (namespace, vector, { minScore }) => namespaces.nearest(namespace, vector, minScore),
    hit: (namespace, id) => hits.hit(namespace, id),
    flushHits,
    size: () => namespaces.size(),

    async close() {
      stop.abort();
      clearInterval(sweep);
      clearInterval(hitTimer);
      await flushHits().catch(onError);
      reader.disconnect();
      await ready;
      await tailing;
    },
  };
}
