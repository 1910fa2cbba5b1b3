import { describe, expect, it } from 'vitest';
import { createVectorNamespaces, type VectorEntry } from './vector-namespaces.ts';

const DIMENSIONS = 256;
const NS = 'summary|llama3.2:3b@1|nomic-embed-text|t1';

function entries(from: number, count: number): { list: VectorEntry[]; vectors: Float32Array } {
  const list = Array.from({ length: count }, (_, i) => ({
    key: `k${from + i}`,
    namespace: NS,
    id: `id-${from + i}`,
    expiresAt: Date.now() + 60_000,
  }));
  const vectors = new Float32Array(count * DIMENSIONS).map(() => Math.random() - 0.5);
  return { list, vectors };
}

describe('vector namespaces', () => {
  // A tail read after a Redis restart (or any busy moment) inserts a batch into an index that
  // grew one entry at a time; the parallel insert used to fail on usearch's thread contexts,
  // intermittently, so the batch is repeated on fresh namespaces.
  it('inserts a batch into a namespace that grew one entry at a time', () => {
    for (let round = 0; round < 10; round++) {
      const namespaces = createVectorNamespaces({ dimensions: DIMENSIONS });
      for (let i = 0; i < 65; i++) {
        const one = entries(i, 1);
        namespaces.insert(one.list, one.vectors);
      }
      const batch = entries(65, 62);
      expect(namespaces.insert(batch.list, batch.vectors)).toBe(62);
      expect(namespaces.size()).toBe(127);
    }
  });
});

describe('removing an entry', () => {
  it('is never returned again, and can be inserted again afterwards', () => {
    const namespaces = createVectorNamespaces({ dimensions: DIMENSIONS });
    const { list, vectors } = entries(0, 3);
    namespaces.insert(list, vectors);
    const first = vectors.subarray(0, DIMENSIONS);

    expect(namespaces.nearest(NS, first, 0.99)).toMatchObject({ id: 'id-0' });
    expect(namespaces.remove('k0')).toBe(true);
    expect(namespaces.remove('k0')).toBe(false);
    expect(namespaces.get('k0')).toBeUndefined();
    expect(namespaces.nearest(NS, first, 0.99)).toBeUndefined();
    expect(namespaces.size()).toBe(2);

    // Same key, same expiry: a removed entry is not "already held".
    expect(namespaces.insert([list[0]!], Float32Array.from(first))).toBe(1);
    expect(namespaces.nearest(NS, first, 0.99)).toMatchObject({ id: 'id-0' });
  });

  it('drops the namespace with its last entry', () => {
    const namespaces = createVectorNamespaces({ dimensions: DIMENSIONS });
    const { list, vectors } = entries(0, 1);
    namespaces.insert(list, vectors);
    namespaces.remove('k0');
    expect(namespaces.nearest(NS, vectors, 0)).toBeUndefined();
    expect(namespaces.size()).toBe(0);
  });
});
