import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { createHitBuffer } from './semantic-write.ts';
import { createVectorNamespaces, type VectorNamespacesOptions } from './vector-namespaces.ts';

export interface SemanticLookupBenchmarkOptions
  extends Omit<VectorNamespacesOptions, 'dimensions'> {
  /** @defaultValue 100_000 */
  entries?: number;
  /** @defaultValue 768 */
  dimensions?: number;
  /** Timed lookups: half near a stored vector (cosine ≈ 0.98), half random. @defaultValue 2_000 */
  queries?: number;
  /** @defaultValue 1 */
  seed?: number;
}

export interface SemanticLookupBenchmark {
  entries: number;
  dimensions: number;
  precision: 'f16' | 'f32';
  /** Time to insert every entry, in batches of 1,000. */
  buildMs: number;
  lookupP50Ms: number;
  lookupP99Ms: number;
  /**
   * The same lookups that also record their hit for `SEMANTIC_MAX_ENTRIES` (what a served
   * semantic hit pays); half the queries, interleaved with the bare ones.
   */
  lookupWithHitP50Ms: number;
  lookupWithHitP99Ms: number;
  /** Share of near queries answered with the vector they were made from (HNSW is approximate). */
  nearRecall: number;
  /** Growth of process RSS while building, scaled to 100,000 entries. */
  rssMbPer100k: number;
}

/**
 * Measures what a semantic-cache lookup costs at scale: fills one namespace with `entries`
 * random unit vectors through the same in-memory index the semantic index uses, then times
 * `nearest()` (threshold 0.95, expiry checked). Random vectors are the hard case for HNSW;
 * real embeddings cluster, which helps both speed and recall.
 */
export async function measureSemanticLookup(
  options: SemanticLookupBenchmarkOptions = {},
): Promise<SemanticLookupBenchmark> {
  const entries = options.entries ?? 100_000;
  const dimensions = options.dimensions ?? 768;
  const queries = options.queries ?? 2_000;
  const seed = options.seed ?? 1;
  const precision = options.precision ?? 'f16';
  const vectorOf = (i: number, out = new Float32Array(dimensions)) =>
    randomUnitVector(mulberry32(seed * 1_000_003 + i), out);

  const rssBefore = process.memoryUsage().rss;
  const space = createVectorNamespaces({ ...options, dimensions, precision });
  const expiresAt = Date.now() + 86_400_000;
  const started = performance.now();
  const batch = 1_000;
  const matrix = new Float32Array(batch * dimensions);
  for (let first = 0; first < entries; first += batch) {
    const n = Math.min(batch, entries - first);
    const meta = Array.from({ length: n }, (_, j) => {
      vectorOf(first + j, matrix.subarray(j * dimensions, (j + 1) * dimensions));
      return { key: `k${first + j}`, namespace: 'bench', id: `e${first + j}`, expiresAt };
    });
    space.insert(meta, n === batch ? matrix : matrix.subarray(0, n * dimensions));
    await yieldToLoop();
  }
  const buildMs = performance.now() - started;
  const rssMbPer100k = ((process.memoryUsage().rss - rssBefore) / 1e6) * (100_000 / entries);

  const random = mulberry32(seed);
  const times: number[] = [];
  const withHit: number[] = [];
  const hits = createHitBuffer('bench');
  let nearHits = 0;
  for (let q = -100; q < queries; q++) {
    const near = q % 2 === 0;
    const target = Math.floor(random() * entries);
    const query = near ? vectorOf(target) : randomUnitVector(random, new Float32Array(dimensions));
    if (near) {
      const noise = randomUnitVector(random, new Float32Array(dimensions));
      for (let d = 0; d < dimensions; d++) query[d] = query[d]! + 0.2 * noise[d]!;
    }
    // Pairs of queries (one near, one random) alternate between the bare lookup and one that
    // records its hit, so both see the same mix and the same machine.
    const recordHit = Math.floor(q / 2) % 2 !== 0;
    const t = performance.now();
    const hit = space.nearest('bench', query, 0.95);
    if (recordHit && hit) hits.hit('bench', hit.id);
    const elapsed = performance.now() - t;
    if (q < 0) continue; // warm-up
    (recordHit ? withHit : times).push(elapsed);
    if (near && hit?.id === `e${target}`) nearHits++;
    if (q % 1_000 === 0) hits.take(); // as the index's flush does, every second
  }
  times.sort((a, b) => a - b);
  withHit.sort((a, b) => a - b);
  const percentileOf = (sorted: number[], p: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  const at = (p: number) => percentileOf(times, p);
  return {
    entries,
    dimensions,
    precision,
    buildMs: Math.round(buildMs),
    lookupP50Ms: round(at(0.5)),
    lookupP99Ms: round(at(0.99)),
    lookupWithHitP50Ms: round(percentileOf(withHit, 0.5)),
    lookupWithHitP99Ms: round(percentileOf(withHit, 0.99)),
    nearRecall: round(nearHits / Math.ceil(queries / 2)),
    rssMbPer100k: Math.round(rssMbPer100k),
  };
}

function randomUnitVector(random: () => number, out: Float32Array): Float32Array {
  let norm = 0;
  for (let d = 0; d < out.length; d++) {
    // Sum of uniforms: close enough to Gaussian for directions spread over the sphere.
    const x = random() + random() + random() - 1.5;
    out[d] = x;
    norm += x * x;
  }
  const scale = 1 / Math.sqrt(norm);
  for (let d = 0; d < out.length; d++) out[d] = out[d]! * scale;
  return out;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const round = (x: number) => Math.round(x * 1000) / 1000;
