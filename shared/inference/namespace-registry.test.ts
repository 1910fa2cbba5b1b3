import { describe, expect, it } from 'vitest';
import { useRedis } from '../../test/fixtures/redis.ts';
import { createNamespaceRegistry, listNamespaces, registryKeys } from './namespace-registry.ts';
import { type NamespaceParts, namespaceKey } from './request-keys.ts';

const parts: NamespaceParts = {
  taskType: 'formatting',
  localModel: 'llama3.2:3b',
  localModelVersion: '1',
  localModelDigest: 'sha256:abc',
  embedModel: 'nomic-embed-text',
  template: 'product-title@1',
  responseFormat: { type: 'object', properties: { title: { type: 'string' } } },
  scope: 'acme-prod',
  user: 'alice',
};

describe('the namespace registry', () => {
  const r = useRedis();

  it('lists a namespace under its key with what selects it, the schema as a short hash', async () => {
    const registry = createNamespaceRegistry({ redis: r.redis, prefix: r.prefix });
    const namespace = await registry.register(parts);

    expect(namespace).toBe(namespaceKey(parts));
    expect(await listNamespaces(r.redis, r.prefix)).toEqual(
      new Map([
        [
          namespace,
          {
            taskType: 'formatting',
            template: 'product-title@1',
            scope: 'acme-prod',
            user: 'alice',
            model: 'llama3.2:3b@1',
            modelDigest: 'sha256:abc',
            embedModel: 'nomic-embed-text',
            responseFormat: expect.stringMatching(/^[0-9a-f]{12}$/),
          },
        ],
      ]),
    );
  });

  it('writes once per namespace per process, not once per request', async () => {
    const registry = createNamespaceRegistry({ redis: r.redis, prefix: r.prefix });
    await registry.register(parts);
    await r.redis.del(registryKeys(r.prefix).parts);

    await registry.register(parts);
    expect((await listNamespaces(r.redis, r.prefix)).size).toBe(0);
    // Another process (a fresh registry) writes it again.
    await createNamespaceRegistry({ redis: r.redis, prefix: r.prefix }).register(parts);
    expect((await listNamespaces(r.redis, r.prefix)).size).toBe(1);
  });

  it('forgets a namespace nobody noted for longer than its entries can live', async () => {
    const keys = registryKeys(r.prefix);
    const day = 86_400_000;
    const ttlMs = { exact: day, semantic: 3_600_000, precomputed: 2 * day };
    // Noted 6 days ago (kept 2 × 2 days + 1 day = 5 days): gone. 4 days ago: kept.
    await r.redis.hset(keys.parts, 'stale', '{"taskType":"qa"}', 'recent', '{"taskType":"qa"}');
    await r.redis.zadd(keys.seen, Date.now() - 6 * day, 'stale', Date.now() - 4 * day, 'recent');

    await createNamespaceRegistry({ redis: r.redis, prefix: r.prefix, ttlMs }).register(parts);

    expect([...(await listNamespaces(r.redis, r.prefix)).keys()].sort()).toEqual(
      [namespaceKey(parts), 'recent'].sort(),
    );
    expect(await r.redis.zscore(keys.seen, 'stale')).toBeNull();
  });
});
