import type { Db } from '../db/create-db.ts';
import { isStoreUnreachable } from '../errors/store-unreachable.ts';
import type { Logger } from '../log/logger.ts';
import { hashApiKey, parseApiKey } from './api-key-format.ts';
import { type ApiKeyRecord, touchApiKey, verifyApiKey } from './api-keys.ts';

export interface ApiKeyResolverOptions {
  db: Db;
  /**
   * How long an answer (a key, or "no such key") is reused: the longest a revoked key keeps
   * working in this process.
   * @defaultValue 5_000
   */
  ttlMs?: number;
  /**
   * While Postgres cannot be reached, how long past its TTL an answer is still used, so the API
   * keeps serving the keys it knows through a database outage. 0 turns it off.
   * @defaultValue 0
   */
  staleIfErrorMs?: number;
  /**
   * Most answers kept; the oldest is evicted first.
   * @defaultValue 10_000
   */
  maxEntries?: number;
  /**
   * `last_used_at` is written at most once per this interval per key.
   * @defaultValue 60_000
   */
  touchIntervalMs?: number;
  /** The clock, in epoch milliseconds (tests move it). @defaultValue Date.now */
  now?: () => number;
  /** Where a failed `last_used_at` write is logged when there is no `onError`. */
  log?: Logger;
  /** Called with a failed `last_used_at` write; the request it came from is not affected. */
  onError?: (error: unknown) => void;
}

interface Entry {
  record: ApiKeyRecord | undefined;
  expiresAt: number;
}

/**
 * Resolves presented API keys for the HTTP API without a Postgres query per request: answers
 * are cached in process for `ttlMs` (misses too, so a flood of bad keys costs one query per key
 * per TTL), concurrent resolves of one key share one query, and the cache is bounded.
 * The cache is keyed by the key's SHA-256, so no raw key stays in memory after its request.
 *
 * @example
 * const keys = new ApiKeyResolver({ db, log });
 * const apiKey = await keys.resolve(request.headers.get('authorization')?.slice(7));
 * if (!apiKey) return unauthorized();
 */
export class ApiKeyResolver {
  readonly #db: Db;
  readonly #ttlMs: number;
  readonly #staleIfErrorMs: number;
  readonly #log: Logger | undefined;
  #servingStale = false;
  readonly #maxEntries: number;
  readonly #touchIntervalMs: number;
  readonly #now: () => number;
  readonly #onError: (error: unknown) => void;
  readonly #entries = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<ApiKeyRecord | undefined>>();
  readonly #touchedAt = new Map<string, number>();
  readonly #touches = new Set<Promise<void>>();

  constructor(options: ApiKeyResolverOptions) {
    this.#db = options.db;
    this.#ttlMs = options.ttlMs ?? 5_000;
    this.#staleIfErrorMs = options.staleIfErrorMs ?? 0;
    this.#log = options.log;
    this.#maxEntries = Math.max(1, options.maxEntries ?? 10_000);
    this.#touchIntervalMs = options.touchIntervalMs ?? 60_000;
    this.#now = options.now ?? Date.now;
    this.#onError =
      options.onError ??
      ((error) => options.log?.warn({ err: error }, 'could not record an API key’s last use'));
  }

  /** Answers cached now (expired ones included until they are next looked up or evicted). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The key `presentedKey` authenticates, or `undefined` (malformed, unknown, wrong or revoked).
   * `beforeLookup` runs (and may throw) only when the answer must come from Postgres.
   * Rejects only when Postgres cannot be reached for an answer not in the cache (or cached
   * longer ago than the TTL plus `staleIfErrorMs`).
   */
  async resolve(
    presentedKey: unknown,
    options: { beforeLookup?: () => Promise<void> } = {},
  ): Promise<ApiKeyRecord | undefined> {
    if (!parseApiKey(presentedKey)) return undefined;
    const hash = hashApiKey(presentedKey as string);
    const cached = this.#entries.get(hash);
    let record: ApiKeyRecord | undefined;
    if (cached && cached.expiresAt > this.#now()) {
      record = cached.record;
    } else {
      // E.g. a per-IP block: a flood of made-up keys must not reach Postgres.
      await options.beforeLookup?.();
      try {
        record = await this.#load(hash, presentedKey as string);
        this.#servingStale = false;
      } catch (error) {
        if (!cached || !this.#usableStale(cached, error)) throw error;
        record = cached.record;
      }
    }
    if (record) this.#touch(record.id);
    return record;
  }

  /** An expired answer may stand in while Postgres is unreachable, for a while. */
  #usableStale(cached: Entry, error: unknown): boolean {
    if (!isStoreUnreachable(error) || cached.expiresAt + this.#staleIfErrorMs <= this.#now()) {
      return false;
    }
    if (!this.#servingStale) {
      this.#servingStale = true;
      this.#log?.warn(
        { err: error, staleIfErrorMs: this.#staleIfErrorMs },
        'Postgres is unreachable: serving cached API key lookups past their TTL',
      );
    }
    return true;
  }

  /** Waits for the `last_used_at` writes in flight (for shutdown and tests). */
  async flush(): Promise<void> {
    await Promise.all([...this.#touches]);
  }

  #load(hash: string, key: string): Promise<ApiKeyRecord | undefined> {
    const pending = this.#inflight.get(hash);
    if (pending) return pending;
    const query = verifyApiKey(this.#db, key)
      .then((record) => {
        const frozen = record && Object.freeze({ ...record, scopes: Object.freeze(record.scopes) });
        remember(
          this.#entries,
          hash,
          { record: frozen, expiresAt: this.#now() + this.#ttlMs },
          this.#maxEntries,
        );
        return frozen;
      })
      .finally(() => this.#inflight.delete(hash));
    this.#inflight.set(hash, query);
    return query;
  }

  #touch(id: string): void {
    const now = this.#now();
    const last = this.#touchedAt.get(id);
    if (last !== undefined && now - last < this.#touchIntervalMs) return;
    remember(this.#touchedAt, id, now, this.#maxEntries);
    const write: Promise<void> = touchApiKey(this.#db, id, new Date(now), this.#touchIntervalMs)
      .catch((error: unknown) => {
        try {
          this.#onError(error);
        } catch {
          // A throwing error handler must not become an unhandled rejection.
        }
      })
      .finally(() => this.#touches.delete(write));
    this.#touches.add(write);
  }
}

/** Sets `key` as the newest entry of `map`, evicting the oldest ones beyond `max`. */
function remember<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  for (const oldest of map.keys()) {
    if (map.size <= max) break;
    map.delete(oldest);
  }
}
