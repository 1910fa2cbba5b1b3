import usearch, { type Index } from 'usearch';

/** One cached vector's identity and lifetime; the vector itself lives in the native index. */
export interface VectorEntry {
  /** Fleet-wide key: one per namespace + id. */
  readonly key: string;
  readonly namespace: string;
  readonly id: string;
  /** Epoch ms after which the entry is never returned. */
  readonly expiresAt: number;
  readonly value?: string;
}

/** The nearest live entry of a lookup. */
export interface VectorMatch {
  readonly id: string;
  /** Cosine similarity, 1 for the same direction. */
  readonly score: number;
  readonly value?: string;
}

export interface VectorNamespacesOptions {
  dimensions: number;
  /** Precision of vectors in memory; f16 halves memory for ~1e-3 error in the score. @defaultValue 'f16' */
  precision?: 'f16' | 'f32';
  /** HNSW links per node. @defaultValue 16 */
  connectivity?: number;
  /** HNSW candidate list while inserting; lower builds faster with lower recall. @defaultValue 64 */
  expansionAdd?: number;
  /** HNSW candidate list while searching. @defaultValue 128 */
  expansionSearch?: number;
}

/** Per-namespace in-memory HNSW indexes (usearch, cosine) with expiry checked on every hit. */
export interface VectorNamespaces {
  /**
   * Inserts entries whose vectors are the rows of `vectors` (row i = entry i). An entry already
   * held with the same or a later expiry is skipped; one with an earlier expiry is replaced;
   * expired entries are dropped. Returns how many were inserted.
   */
  insert(entries: readonly VectorEntry[], vectors: Float32Array): number;
  /** The nearest live entry of `namespace` if its score is at least `minScore`. */
  nearest(
    namespace: string,
    vector: Float32Array | readonly number[],
    minScore: number,
  ): VectorMatch | undefined;
  /** Drops expired entries (and namespaces left empty); returns how many were dropped. */
  evictExpired(now?: number): number;
  /**
   * Drops the entry held under a fleet-wide key (a purge's tombstone); false when none is held.
   * A later insert of the same key is taken again, whatever its expiry.
   */
  remove(key: string): boolean;
  /** The entry held under a fleet-wide key, if any. */
  get(key: string): VectorEntry | undefined;
  /** Entries held, over all namespaces. */
  size(): number;
}

interface Space {
  readonly index: Index;
  readonly entries: Map<bigint, Held>;
}

interface Held extends VectorEntry {
  readonly label: bigint;
}

// Neighbours fetched per search: enough that a few expired ones at the top do not hide a live one.
const SEARCH_K = 8;

/** Creates an empty set of namespaces; see {@link VectorNamespaces}. */
export function createVectorNamespaces(options: VectorNamespacesOptions): VectorNamespaces {
  const { dimensions } = options;
  const spaces = new Map<string, Space>();
  const byKey = new Map<string, Held>();
  let nextLabel = 1n;

  const spaceOf = (namespace: string): Space => {
    let space = spaces.get(namespace);
    if (!space) {
      const index = new usearch.Index({
        dimensions,
        metric: usearch.MetricKind.Cos,
        quantization: options.precision === 'f32' ? usearch.ScalarKind.F32 : usearch.ScalarKind.F16,
        connectivity: options.connectivity ?? 16,
        expansion_add: options.expansionAdd ?? 64,
        expansion_search: options.expansionSearch ?? 128,
        multi: false,
      });
      space = { index, entries: new Map() };
      spaces.set(namespace, space);
    }
    return space;
  };

  const remove = (held: Held) => {
    const space = spaces.get(held.namespace);
    byKey.delete(held.key);
    if (!space) return;
    space.entries.delete(held.label);
    space.index.remove(held.label);
    if (space.entries.size === 0) spaces.delete(held.namespace);
  };

  return {
    insert(entries, vectors) {
      if (vectors.length !== entries.length * dimensions) {
        throw new RangeError(`expected ${entries.length} vectors of ${dimensions} dimensions`);
      }
      const now = Date.now();
      const groups = new Map<string, number[]>();
      entries.forEach((entry, row) => {
        if (entry.expiresAt <= now) return;
        const held = byKey.get(entry.key);
        if (held && held.expiresAt >= entry.expiresAt) return;
        if (held) remove(held);
        const rows = groups.get(entry.namespace) ?? [];
        rows.push(row);
        groups.set(entry.namespace, rows);
      });
      let inserted = 0;
      for (const [namespace, rows] of groups) {
        const space = spaceOf(namespace);
        const labels = new BigUint64Array(rows.length);
        const matrix = new Float32Array(rows.length * dimensions);
        rows.forEach((row, i) => {
          const entry = entries[row]!;
          const held: Held = { ...entry, label: nextLabel++ };
          labels[i] = held.label;
          matrix.set(vectors.subarray(row * dimensions, (row + 1) * dimensions), i * dimensions);
          space.entries.set(held.label, held);
          byKey.set(held.key, held);
        });
        // One thread for a single vector: spinning up a pool costs more than the insert. But
        // usearch sizes its per-thread contexts at each reserve (an add that outgrows the
        // capacity) to that add's thread count: a single-threaded add that grew the index would
        // leave one context, and a later parallel add that fits fails ("Reserve capacity ahead
        // of insertions!"). So every add that grows the index uses all threads.
        const grows = space.index.size() + rows.length >= space.index.capacity();
        space.index.add(labels, matrix, rows.length > 1 || grows ? 0 : 1);
        inserted += rows.length;
      }
      return inserted;
    },

    nearest(namespace, vector, minScore) {
      if (vector.length !== dimensions) {
        throw new RangeError(`expected a vector of ${dimensions} dimensions, got ${vector.length}`);
      }
      const query = vector instanceof Float32Array ? vector : Float32Array.from(vector);
      // Each round evicts the expired entries it met; three rounds bound the work of one lookup.
      for (let round = 0; round < 3; round++) {
        const space = spaces.get(namespace);
        if (!space) return undefined;
        const k = Math.min(SEARCH_K, space.entries.size);
        const { keys, distances } = space.index.search(query, k, 1);
        const now = Date.now();
        let evicted = false;
        for (let i = 0; i < keys.length; i++) {
          const held = space.entries.get(keys[i]!);
          if (!held) continue;
          if (held.expiresAt <= now) {
            remove(held);
            evicted = true;
            continue;
          }
          const score = 1 - distances[i]!;
          if (score < minScore) return undefined;
          return held.value === undefined
            ? { id: held.id, score }
            : { id: held.id, score, value: held.value };
        }
        if (!evicted) return undefined;
      }
      return undefined;
    },

    evictExpired(now = Date.now()) {
      let dropped = 0;
      for (const held of byKey.values()) {
        if (held.expiresAt <= now) {
          remove(held);
          dropped++;
        }
      }
      return dropped;
    },

    remove(key) {
      const held = byKey.get(key);
      if (held) remove(held);
      return held !== undefined;
    },

    get: (key) => byKey.get(key),
    size: () => byKey.size,
  };
}
