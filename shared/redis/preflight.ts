import type { Redis } from 'ioredis';
import { RedisPreflightError } from '../errors/redis-preflight-error.ts';
import type { Logger } from '../log/logger.ts';

/** What the preflight read from Redis. */
export interface RedisSafety {
  maxmemoryPolicy: string;
  aofEnabled: boolean;
  rdbSnapshots: boolean | undefined;
  problems: string[];
}

function infoField(info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

/** Reads eviction and persistence settings; `INFO` works on managed Redis where `CONFIG` is disabled. */
export async function inspectRedis(redis: Redis): Promise<RedisSafety> {
  const info = `${await redis.info('memory')}\n${await redis.info('persistence')}`;
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
  return { maxmemoryPolicy, aofEnabled, rdbSnapshots, problems };
}

/**
 * Refuses to start in production when Redis could lose jobs; warns loudly elsewhere.
 */
export async function redisPreflight(
  redis: Redis,
  options: { env: string; log: Logger },
): Promise<RedisSafety> {
  const safety = await inspectRedis(redis);
  if (safety.problems.length === 0) return safety;
  if (options.env === 'production') throw new RedisPreflightError(safety.problems);
  options.log.warn(
    { problems: safety.problems },
    'Redis is not safe for production; continuing because NODE_ENV is not production',
  );
  return safety;
}
