import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';

/** A connection to one Redis server or to a Redis Cluster; BullMQ and every store take either. */
export type RedisClient = Redis | Cluster;

/** Where Redis is: `REDIS_URL`, and `REDIS_CLUSTER` saying whether it names a cluster's seed node. */
export interface RedisTarget {
  url: string;
  /** @defaultValue false */
  cluster?: boolean;
}

/**
 * A connection for BullMQ workers and long-running jobs. `maxRetriesPerRequest: null` is what
 * BullMQ requires of blocking connections: commands wait through a Redis restart (or a cluster
 * failover) instead of failing the worker.
 */
export function createWorkerConnection(
  target: string | RedisTarget,
  options: RedisOptions = {},
): RedisClient {
  return createRedisConnection(target, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    connectionName: 'lowburn-worker',
    ...options,
  });
}

/**
 * A connection for producers (the API, the CLI's `run`): fails fast while Redis is down, so a
 * request answers 503 at once instead of hanging or claiming work was queued.
 */
export function createProducerConnection(
  target: string | RedisTarget,
  options: RedisOptions = {},
): RedisClient {
  return createRedisConnection(target, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
    connectionName: 'lowburn-producer',
    // Keep reconnecting in the background; requests meanwhile fail fast.
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    ...options,
  });
}

/**
 * The one place a connection is made: a plain `Redis` for a server, an ioredis `Cluster` seeded
 * from the URL's node for a cluster (it discovers the other nodes, and follows a failover, from
 * `CLUSTER SLOTS`). `options` are per-node options either way.
 */
export function createRedisConnection(
  target: string | RedisTarget,
  options: RedisOptions = {},
): RedisClient {
  const { url, cluster } = typeof target === 'string' ? { url: target, cluster: false } : target;
  if (!cluster) return new Redis(url, options);
  const { enableOfflineQueue, enableReadyCheck, retryStrategy, ...node } = options;
  const seed = new URL(url);
  const clusterOptions: ClusterOptions = {
    redisOptions: {
      ...node,
      username: decodeURIComponent(seed.username) || undefined,
      password: decodeURIComponent(seed.password) || undefined,
      ...(seed.protocol === 'rediss:' ? { tls: {} } : {}),
    },
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    ...(enableReadyCheck === undefined ? {} : { enableReadyCheck }),
    // A failover takes the cluster a few seconds (cluster-node-timeout, then the replica's
    // election); commands to the lost master wait for the new slot map rather than fail. Each
    // wait spends a redirection: a worker's connection (no retry limit) waits up to 30 s, a
    // producer's the default 16 (about 3 s, past its command timeout: the API answers 503).
    retryDelayOnFailover: 200,
    ...(node.maxRetriesPerRequest === null ? { maxRedirections: 150 } : {}),
    retryDelayOnClusterDown: 200,
    // ioredis's 1 s for CLUSTER SLOTS fails on a busy two-core box, and a client that cannot
    // read the slot map never becomes ready.
    slotsRefreshTimeout: 5_000,
    clusterRetryStrategy: retryStrategy ?? ((times) => Math.min(times * 200, 2_000)),
  };
  return new Cluster([{ host: seed.hostname, port: Number(seed.port || 6379) }], clusterOptions);
}

/** True when `redis` is a cluster connection. */
export function isCluster(redis: RedisClient): redis is Cluster {
  return redis.isCluster;
}

/**
 * Waits up to `ms` (or until it ends) for a connection that is still (re)connecting; true once it is ready. A
 * fail-fast producer (`enableOfflineQueue: false`) rejects commands until then — on one server
 * while its socket connects, on a cluster until the slot map is read as well — so callers that
 * must not fail a first command (the API's requests, the board's login limiter) wait here.
 */
export async function whenReady(redis: RedisClient, ms?: number): Promise<boolean> {
  if (redis.status === 'ready') return true;
  if (redis.status === 'wait') redis.connect().catch(() => {});
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('end', onEnd);
      resolve(ok);
    };
    const onReady = () => done(true);
    const onEnd = () => done(false);
    const timer = ms === undefined ? undefined : setTimeout(() => done(false), ms);
    redis.once('ready', onReady);
    redis.once('end', onEnd);
  });
}

/**
 * The connections that hold keys: each master of a cluster, or the one server. Commands that
 * see one node's keys only (`SCAN`, `INFO`) run on each of these. A cluster client knows its
 * masters once it is ready, so this waits for that.
 */
export async function keyHolders(redis: RedisClient): Promise<Redis[]> {
  if (!isCluster(redis)) return [redis];
  if (!(await whenReady(redis))) {
    throw new Error('the Redis Cluster connection was closed');
  }
  return redis.nodes('master');
}

/**
 * A new connection to the same Redis as `redis` with some per-node options changed (a blocking
 * reader of its own, say). A cluster's copy keeps its seed nodes and cluster options.
 */
export function duplicateConnection(redis: RedisClient, options: RedisOptions): RedisClient {
  if (!isCluster(redis)) return redis.duplicate(options);
  const { enableOfflineQueue, ...node } = options;
  return redis.duplicate(undefined, {
    ...redis.options,
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    redisOptions: { ...redis.options.redisOptions, ...node },
  });
}
