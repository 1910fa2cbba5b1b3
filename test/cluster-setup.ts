import type { TestProject } from 'vitest/node';
import { startRedisCluster } from './fixtures/redis-cluster.ts';
import setup from './global-setup.ts';

/**
 * `npm run test:cluster`: what `npm test` sets up (Postgres, the template database), then a
 * six-node Redis Cluster (three masters, three replicas) of the machine's `redis-server` on
 * loopback ports; the tests' Redis is the cluster (`REDIS_CLUSTER=true`, hash-tagged prefixes).
 */
export default async function clusterSetup(project: TestProject) {
  const teardown = await setup(project);
  const cluster = await startRedisCluster({ masters: 3, replicas: 1 });
  project.provide('redisUrl', cluster.url);
  project.provide('redisCluster', true);
  return async () => {
    await cluster.close();
    await teardown();
  };
}
