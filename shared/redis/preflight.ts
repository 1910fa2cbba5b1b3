import type { Redis } from 'ioredis';
import { RedisPreflightError } from '../errors/redis-preflight-error.ts';
import type { Logger } from '../log/logger.ts';
import { keyHolders, type RedisClient } from './connections.ts';

/** What the preflight read from Redis. */
export interface RedisSafety {
  maxmemoryPolicy: string;
  aofEnabled: boolean;
  rdbSnapshots: boolean | undefined;
  problems: string[];
  /** Set when the server is a cluster node but the client is not a cluster client. */
  clusterMismatch?: string;
}

function infoField(info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

/**
 * Reads eviction and persistence settings; `INFO` works on managed Redis where `CONFIG` is
 * disabled. On a cluster every master is read, and a problem names the node it was found on.
 */
export async function inspectRedis(redis: RedisClient): Promise<RedisSafety> {
  const nodes = await keyHolders(redis);
  const read = await Promise.all(nodes.map((node) => inspectNode(node)));
  const named = (node: Redis, problem: string) =>
    redis.isCluster ? `${node.options.host}:${node.options.port}: ${problem}` : problem;
  const problems = read.flatMap((r, i) => r.problems.map((p) => named(nodes[i]!, p)));
  const clusterNode = read.find((r) => r.clusterEnabled);
  const mismatch =
    clusterNode && !redis.isCluster
      ? 'REDIS_URL names a Redis Cluster node but REDIS_CLUSTER is not set; set REDIS_CLUSTER=true and a QUEUE_PREFIX with a hash tag such as {lowburn}'
      : undefined;
  const first = read[0]!;
  return {
    maxmemoryPolicy: first.maxmemoryPolicy,
    aofEnabled: read.every((r) => r.aofEnabled),
    rdbSnapshots: first.rdbSnapshots,
    problems,
    ...(mismatch ? { clusterMismatch: mismatch } : {}),
  };
}

async function inspectNode(redis: Redis): Promise<RedisSafety & { clusterEnabled: boolean }> {
  const info = [
    await redis.info('memory'),
    await redis.info('persistence'),
    await redis.info('cluster'),
  ].join('\n');
  const maxmemoryPolicy = infoField(info, 'maxmemory_policy') ?? 'unknown';
  const aofEnabled = infoField(info, 'aof_enabled') === '1';
  let rdbSnapshots: boolean | undefined;
  try {
    const [, save] = (await redis.config('GET', 'save')) as [string, string];
    rdbSnapshots = save.trim() !== '';
  } catch {
    rdbSnapshots = undefined; // CONFIG is disabled on some managed services.
  }
  const problems: string[] = [];
  if (maxmemoryPolicy !== 'noeviction') {
    problems.push(
      `maxmemory-policy is "${maxmemoryPolicy}"; it must be "noeviction" or Redis may evict queued jobs`,
    );
  }
  if (!aofEnabled) {
    problems.push(
      'appendonly is off; a Redis restart loses queued jobs and schedules (use appendonly yes, appendfsync everysec)',
    );
  }
  const clusterEnabled = infoField(info, 'cluster_enabled') === '1';
  return { maxmemoryPolicy, aofEnabled, rdbSnapshots, problems, clusterEnabled };
}

/**
 * Refuses to start in production when Redis could lose jobs; warns loudly elsewhere.
 */
export async function redisPreflight(
  redis: RedisClient,
  options: { env: string; log: Logger },
): Promise<RedisSafety> {
  const safety = await inspectRedis(redis);
  // Not a matter of safety but of working at all: a plain client on a cluster node meets MOVED.
  if (safety.clusterMismatch) throw new RedisPreflightError([safety.clusterMismatch]);
  if (safety.problems.length === 0) return safety;
  if (options.env === 'production') throw new RedisPreflightError(safety.problems);
  options.log.warn(
    { problems: safety.problems },
    'Redis is not safe for production; continuing because NODE_ENV is not production',
  );
  return safety;
}
