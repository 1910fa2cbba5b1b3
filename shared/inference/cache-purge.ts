import type { RedisClient } from '../redis/connections.ts';
import { scanKeys } from '../redis/scan-keys.ts';
import { type CacheLayer, cacheLayers } from './answer-cache.ts';
import type { CachePurgeSelector } from './cache-purge-selector.ts';
import { listNamespaces, type RegisteredNamespace, readNamespaces } from './namespace-registry.ts';
import { exactKey } from './request-keys.ts';
import {
  removeSemanticEntries,
  type StoredEntry,
  scanSemanticEntries,
  semanticEntryKey,
  semanticKeys,
} from './semantic-store.ts';

export type { CachePurgeSelector } from './cache-purge-selector.ts';

/** A namespace a purge removed something from. */
export interface PurgedNamespace {
  namespace: string;
  /** What the registry knows of it (absent for a namespace filled before it was listed). */
  parts?: RegisteredNamespace;
  answers: number;
  vectors: number;
}

export interface CachePurgeResult {
  dryRun: boolean;
  /** Answers removed per layer (on a dry run: that would be removed). */
  removed: Record<CacheLayer, number>;
  /** Semantic index entries removed from Redis and, through the stream, from every worker. */
  vectors: number;
  /** Where they were, most answers first. */
  namespaces: PurgedNamespace[];
}

export interface CachePurgeOptions {
  /** Count what would be removed, remove nothing. @defaultValue false */
  dryRun?: boolean;
}

/** What a purge touches: `undefined` is "any". */
interface Target {
  namespaces?: ReadonlySet<string>;
  keys?: ReadonlySet<string>;
}

interface Answer {
  name: string;
  layer: CacheLayer;
  namespace: string;
}

const SCAN_COUNT = 1000;
const UNLINK_BATCH = 500;
// Up to this many candidate names (namespaces × keys × layers) are checked one by one;
// more, and one SCAN over the cache is cheaper.
const DIRECT_MAX = 2000;

/**
 * Removes cached answers from every layer, and their semantic index entries from Redis and
 * from every worker's memory (a removal record on the stream every worker tails). Keys are found
 * with SCAN (MATCH + COUNT, never KEYS) or, when the selector names both namespaces and keys,
 * looked up directly; they are removed with UNLINK in batches.
 *
 * A generation already past its cache lookup when the purge runs may still write its answer
 * afterwards; purge again once it has finished.
 */
export async function purgeCache(
  deps: { redis: RedisClient; prefix: string },
  selector: CachePurgeSelector,
  options: CachePurgeOptions = {},
): Promise<CachePurgeResult> {
  const { redis, prefix } = deps;
  const dryRun = options.dryRun ?? false;
  const { taskType, template, scope } = selector;
  // The whole registry only when it chooses the namespaces; else only what was touched, after.
  const narrows = taskType !== undefined || template !== undefined || scope !== undefined;
  const registered = narrows ? await listNamespaces(redis, prefix) : undefined;
  const target: Target = { namespaces: selectNamespaces(selector, registered) };
  const keys = selectedKeys(selector);
  if (keys) target.keys = keys;

  return purgeTarget(deps, target, dryRun, registered);
}

/**
 * Removes the answers cached under any of `keys` (exact keys, template keys) in every layer and
 * namespace, and their semantic index entries from Redis and every worker's memory: what an
 * erasure purges for the keys computed from a user's requests. One SCAN over the cache for any
 * number of keys.
 */
export async function purgeCacheKeys(
  deps: { redis: RedisClient; prefix: string },
  keys: Iterable<string>,
  options: CachePurgeOptions & {
    /** Only these namespaces (whole when `keys` is empty). @defaultValue every namespace */
    namespaces?: Iterable<string>;
  } = {},
): Promise<CachePurgeResult> {
  const target: Target = {};
  const keySet = new Set(keys);
  if (keySet.size > 0) target.keys = keySet;
  if (options.namespaces) target.namespaces = new Set(options.namespaces);
  const dryRun = options.dryRun ?? false;
  // Neither: nothing was named, so nothing goes (never the whole cache).
  if (!target.keys && !target.namespaces) target.namespaces = new Set();
  return purgeTarget(deps, target, dryRun, undefined);
}

async function purgeTarget(
  deps: { redis: RedisClient; prefix: string },
  target: Target,
  dryRun: boolean,
  registered: ReadonlyMap<string, RegisteredNamespace> | undefined,
): Promise<CachePurgeResult> {
  const { redis, prefix } = deps;
  const removed = Object.fromEntries(cacheLayers.map((l) => [l, 0])) as Record<CacheLayer, number>;
  let vectors = 0;
  const touched = new Map<string, PurgedNamespace>();
  const tally = (namespace: string) => {
    let entry = touched.get(namespace);
    if (!entry) {
      entry = { namespace, answers: 0, vectors: 0 };
      touched.set(namespace, entry);
    }
    return entry;
  };

  if (target.namespaces?.size !== 0) {
    for await (const page of answerPages(redis, prefix, target)) {
      for (const answer of page) tally(answer.namespace).answers++;
      for (const layer of cacheLayers) {
        const names = page.filter((a) => a.layer === layer).map((a) => a.name);
        removed[layer] += dryRun ? names.length : await unlinkAll(redis, names);
      }
    }
    for await (const page of vectorPages(redis, prefix, target)) {
      for (const entry of page) tally(entry.namespace).vectors++;
      vectors += page.length;
      if (!dryRun) await removeSemanticEntries(redis, prefix, entryKeys(page));
    }
  }
  const described = registered ?? (await readNamespaces(redis, prefix, [...touched.keys()]));
  const namespaces = [...touched.values()]
    .map((n) => {
      const parts = described.get(n.namespace);
      return parts ? { namespace: n.namespace, parts, answers: n.answers, vectors: n.vectors } : n;
    })
    .sort((a, b) => b.answers - a.answers);
  return { dryRun, removed, vectors, namespaces };
}

/** The cache keys a selector names, or `undefined` when it names none (every key goes). */
function selectedKeys(selector: CachePurgeSelector): Set<string> | undefined {
  const keys = new Set<string>();
  if (selector.prompt !== undefined) {
    keys.add(exactKey([{ role: 'user', content: selector.prompt }]));
  }
  if (selector.messages !== undefined) keys.add(exactKey(selector.messages));
  if (selector.key !== undefined) keys.add(selector.key);
  return keys.size > 0 ? keys : undefined;
}

/** The namespaces the selector narrows to through the registry, or `undefined` for any. */
function selectNamespaces(
  selector: CachePurgeSelector,
  registered: ReadonlyMap<string, RegisteredNamespace> | undefined,
): Set<string> | undefined {
  const { taskType, template, scope, namespace } = selector;
  let chosen: Set<string> | undefined;
  if (registered) {
    chosen = new Set();
    for (const [id, parts] of registered) {
      if (taskType !== undefined && parts.taskType !== taskType) continue;
      if (scope !== undefined && parts.scope !== scope) continue;
      if (template !== undefined && !sameTemplate(parts.template, template)) continue;
      chosen.add(id);
    }
  }
  if (namespace === undefined) return chosen;
  return !chosen || chosen.has(namespace) ? new Set([namespace]) : new Set();
}

/** `product-title` matches every version; `product-title@2` only that one. */
const sameTemplate = (listed: string | undefined, wanted: string) =>
  listed !== undefined &&
  (wanted.includes('@') ? listed === wanted : listed.startsWith(`${wanted}@`));

/** The target's cached answers, a page at a time. */
async function* answerPages(redis: RedisClient, prefix: string, target: Target) {
  const { namespaces, keys } = target;
  const base = `${prefix}:cache:`;
  if (namespaces && keys && namespaces.size * keys.size * cacheLayers.length <= DIRECT_MAX) {
    const candidates: Answer[] = [];
    for (const namespace of namespaces) {
      for (const key of keys) {
        for (const layer of cacheLayers) {
          candidates.push({ name: `${base}${layer}:${namespace}:${key}`, layer, namespace });
        }
      }
    }
    yield* existing(redis, candidates, (c) => c.name);
    return;
  }
  // The tightest single pattern Redis can filter by; the exact test is done here.
  const only = <T>(set: ReadonlySet<T> | undefined) => (set?.size === 1 ? [...set][0] : undefined);
  const ns = only(namespaces);
  const key = only(keys);
  const pattern = `${glob(base)}*:${ns === undefined ? '*' : glob(ns)}:${key === undefined ? '*' : glob(key)}`;
  for await (const names of scanKeys(redis, pattern, SCAN_COUNT)) {
    const page = names.flatMap((name) => {
      const answer = parseAnswerName(name, base);
      if (!answer) return [];
      if (namespaces && !namespaces.has(answer.namespace)) return [];
      if (keys && !keys.has(answer.key)) return [];
      return [answer];
    });
    if (page.length > 0) yield page;
  }
}

/** The target's semantic index entries (their ids are exact keys), a page at a time. */
async function* vectorPages(
  redis: RedisClient,
  prefix: string,
  target: Target,
): AsyncGenerator<StoredEntry[]> {
  const { namespaces, keys } = target;
  if (namespaces && keys && namespaces.size * keys.size <= DIRECT_MAX) {
    const candidates: StoredEntry[] = [];
    for (const namespace of namespaces) {
      for (const id of keys)
        candidates.push({ key: semanticEntryKey(namespace, id), namespace, id });
    }
    const entry = semanticKeys(prefix).entry;
    yield* existing(redis, candidates, (c) => entry(c.key));
    return;
  }
  for await (const page of scanSemanticEntries(redis, prefix)) {
    const chosen = page.filter(
      (e) => (!namespaces || namespaces.has(e.namespace)) && (!keys || keys.has(e.id)),
    );
    if (chosen.length > 0) yield chosen;
  }
}

/** The candidates whose Redis key exists, checked in pipelined pages. */
async function* existing<T>(redis: RedisClient, candidates: T[], name: (candidate: T) => string) {
  for (let i = 0; i < candidates.length; i += UNLINK_BATCH) {
    const batch = candidates.slice(i, i + UNLINK_BATCH);
    const pipeline = redis.pipeline();
    for (const candidate of batch) pipeline.exists(name(candidate));
    const results = (await pipeline.exec()) ?? [];
    const found = batch.filter((_, j) => {
      const [error, count] = results[j] ?? [];
      if (error) throw error;
      return count === 1;
    });
    if (found.length > 0) yield found;
  }
}

/** `<prefix>:cache:<layer>:<namespace>:<key>` taken apart; the key may hold colons. */
function parseAnswerName(name: string, base: string): (Answer & { key: string }) | undefined {
  if (!name.startsWith(base)) return undefined;
  const rest = name.slice(base.length);
  const afterLayer = rest.indexOf(':');
  const afterNamespace = rest.indexOf(':', afterLayer + 1);
  if (afterLayer < 0 || afterNamespace < 0) return undefined;
  const layer = cacheLayers.find((l) => l === rest.slice(0, afterLayer));
  if (!layer) return undefined;
  const namespace = rest.slice(afterLayer + 1, afterNamespace);
  return { name, layer, namespace, key: rest.slice(afterNamespace + 1) };
}

async function unlinkAll(redis: RedisClient, names: string[]): Promise<number> {
  let count = 0;
  for (let i = 0; i < names.length; i += UNLINK_BATCH) {
    count += await redis.unlink(...names.slice(i, i + UNLINK_BATCH));
  }
  return count;
}

const entryKeys = (entries: readonly StoredEntry[]) => entries.map((e) => e.key);

/** `text` as a literal in a SCAN MATCH pattern. */
const glob = (text: string) => text.replace(/[*?[\]\\]/g, '\\$&');
