// Run by `npm run test:cluster` only (against its six-node cluster): what a plain server cannot show.
import { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { randomPrefix, useRedis } from '../../test/fixtures/redis.ts';
import { createLogger } from '../log/logger.ts';
import {
  createProducerConnection,
  createWorkerConnection,
  keyHolders,
  whenReady,
} from './connections.ts';
import { deletePrefix } from './delete-prefix.ts';
import { redisPreflight } from './preflight.ts';
import { scanKeys } from './scan-keys.ts';

const log = createLogger({ level: 'silent' });

describe('on a Redis Cluster', () => {
  const r = useRedis();

  it('connects as a cluster client and reaches every master', async () => {
    expect(r.target.cluster).toBe(true);
    expect(r.redis.isCluster).toBe(true);
    expect(await keyHolders(r.redis)).toHaveLength(3);
  });

  it('passes the worker preflight: every master is read, all are safe', async () => {
    const safety = await redisPreflight(r.redis, { env: 'production', log });
    expect(safety.problems).toEqual([]);
  });

  it('refuses a plain connection to a cluster node, saying to set REDIS_CLUSTER', async () => {
    const plain = createWorkerConnection(r.url);
    try {
      await expect(redisPreflight(plain, { env: 'test', log })).rejects.toThrow(
        /REDIS_CLUSTER=true and a QUEUE_PREFIX with a hash tag/,
      );
    } finally {
      plain.disconnect();
    }
  });

  it('finds keys on every master when it scans, and deletes them all', async () => {
    // No hash tag: these spread over the three masters' slots.
    const base = randomPrefix().replace(/[{}]/g, '');
    const keys = Array.from({ length: 30 }, (_, i) => `${base}:${i}`);
    for (const key of keys) await r.redis.set(key, '1');
    const found: string[] = [];
    for await (const page of scanKeys(r.redis, `${base}:*`)) found.push(...page);
    expect(found.sort()).toEqual([...keys].sort());
    await deletePrefix(r.redis, base);
    expect(await r.redis.exists(...keys.slice(0, 1))).toBe(0);
    let left = 0;
    for await (const page of scanKeys(r.redis, `${base}:*`)) left += page.length;
    expect(left).toBe(0);
  });

  it('runs BullMQ under a hash-tagged prefix, and a prefix without one fails with CROSSSLOT', async () => {
    const tagged = new Queue('probe', { connection: r.redis, prefix: r.prefix });
    await tagged.add('x', { n: 1 });
    expect(await tagged.getJobCounts('wait')).toEqual({ wait: 1 });
    await tagged.close();
    const bare = new Queue('probe', { connection: r.redis, prefix: r.prefix.replace(/[{}]/g, '') });
    try {
      await expect(bare.add('x', { n: 1 })).rejects.toThrow(/CROSSSLOT/);
    } finally {
      await bare.close();
    }
  });

  it('answers a fresh producer once its slot map is read, as the API waits for it', async () => {
    // A fail-fast producer rejects commands until it is ready; on a cluster that takes the
    // seed's CLUSTER SLOTS and a connection to each master, not one socket. The API's requests
    // wait for it (whenReady, 1.5 s) rather than answer 503 at boot.
    const producer = createProducerConnection(r.target);
    try {
      expect(await whenReady(producer, 5_000)).toBe(true);
      await expect(producer.set(`${r.prefix}:p`, '1')).resolves.toBe('OK');
    } finally {
      producer.disconnect();
    }
  });
});
