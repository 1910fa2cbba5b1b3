import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { ApiConfig } from '../shared/config/load-config.ts';
import type { RedisClient } from '../shared/redis/connections.ts';
import { apiUsageExpiresAt, apiUsageKeys } from '../shared/usage/api-usage.ts';
import { userRateLimitKeys } from '../shared/usage/budgets.ts';
import { ApiError, unavailable, unavailableIfUnreachable } from './api-error.ts';

type Limits = ApiConfig['rateLimits'];

/** `RateLimit-*` headers (IETF draft) for a window. */
function headers(limit: number, remaining: number, msBeforeNext: number): Record<string, string> {
  const reset = String(Math.max(1, Math.ceil(msBeforeNext / 1000)));
  return {
    'ratelimit-limit': String(limit),
    'ratelimit-remaining': String(Math.max(0, remaining)),
    'ratelimit-reset': reset,
  };
}

function limited(what: string, limit: number, msBeforeNext: number): ApiError {
  const h = headers(limit, 0, msBeforeNext);
  return new ApiError(429, 'rate_limited', `${what}; retry in ${h['ratelimit-reset']} s`, {
    headers: { ...h, 'retry-after': h['ratelimit-reset'] ?? '1' },
  });
}

// Fixed windows counted in one round trip: the key's second, then (unless the key is already
// over) the user's minute and hour. One script instead of three limiter calls took the API from
// ratio 0.24 to 0.37 against raw queue.add (bench:api, with the Content-Length body cap); the user's tier is decided in JS from the
// hour count, so tiers stay configuration, not Lua. The request is also counted for the usage
// rollup (KEYS[1], a hash per hour: see shared/usage/api-usage.ts) in the same call, so usage
// capture costs no round trip; it counts every authenticated request, refused ones included.
// A user's budget spend (KEYS[5], see shared/usage/budgets.ts), when budgets apply, is read in
// the same call too: checking budgets costs a GET, not a round trip.
const CONSUME = `
redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
redis.call('EXPIREAT', KEYS[1], ARGV[3])
local function hit(key, ms)
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('PEXPIRE', key, ms) end
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then ttl = ms end
  return n, ttl
end
local kn, kt = hit(KEYS[2], 1000)
if kn > tonumber(ARGV[1]) or #KEYS == 2 then return {kn, kt} end
local un, ut = hit(KEYS[3], 60000)
local hn = hit(KEYS[4], 3600000)
if #KEYS == 4 then return {kn, kt, un, ut, hn} end
return {kn, kt, un, ut, hn, tonumber(redis.call('GET', KEYS[5]) or '0')}`;

type ConsumingRedis = RedisClient & {
  lowburnRateLimit(numKeys: number, ...keysAndArgs: (string | number)[]): Promise<number[]>;
};

/**
 * Rate limits in Redis: per API key per second and per end user per minute (lower for users who
 * sent many requests in the last hour) in one script call per request; failed authentications
 * per client IP through rate-limiter-flexible (a rare path, where one more call costs nothing).
 * Redis being down is a 503, never a pass.
 */
export class RateLimits {
  readonly #limits: Limits;
  readonly #redis: ConsumingRedis;
  readonly #prefix: string;
  readonly #queuePrefix: string;
  readonly #authFailures: RateLimiterRedis;
  /** Keys over their per-second limit, and until when (this process only; saves a round trip). */
  readonly #blockedUntil = new Map<string, number>();

  constructor(options: { redis: RedisClient; prefix: string; limits: Limits }) {
    const { redis, prefix, limits } = options;
    if (!('lowburnRateLimit' in redis)) redis.defineCommand('lowburnRateLimit', { lua: CONSUME });
    this.#redis = redis as ConsumingRedis;
    this.#prefix = `${prefix}:rl`;
    this.#queuePrefix = prefix;
    this.#limits = limits;
    this.#authFailures = new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: `${prefix}:rl:auth-fail`,
      points: limits.authFailuresPerIp,
      duration: 300,
      rejectIfRedisNotReady: true,
    });
  }

  /** The per-minute limit for a user who made `lastHour` requests this hour. */
  userLimit(lastHour: number): number {
    let limit = this.#limits.perUserPerMinute;
    for (const tier of this.#limits.userTiers) {
      if (lastHour > tier.afterPerHour) limit = Math.min(limit, tier.perMinute);
    }
    return limit;
  }

  /**
   * Counts one request of an API key, and of its end user when given, against the limits and
   * for the usage rollup under `route` (e.g. `POST /v1/generations`). Throws 429 past either
   * limit (the user's depends on their tier), 503 when Redis does not answer. Returns the
   * `RateLimit-*` headers of the tighter window.
   */
  async consume(
    apiKeyId: string,
    userId: string | undefined,
    route: string,
  ): Promise<Record<string, string>> {
    return (await this.consumeReadingSpend(apiKeyId, userId, route)).headers;
  }

  /**
   * {@link consume}, also reading the user's spend counter `spendKey` (micro-USD; 0 when
   * absent) in the same call. The spend is read only for a request naming a user that passed
   * the key's limit; otherwise `spentMicroUsd` is `undefined`.
   */
  async consumeReadingSpend(
    apiKeyId: string,
    userId: string | undefined,
    route: string,
    spendKey?: string,
  ): Promise<{ headers: Record<string, string>; spentMicroUsd: number | undefined }> {
    this.assertKeyNotBlocked(apiKeyId);
    const p = this.#prefix;
    const now = new Date();
    const usage = apiUsageKeys.hour(this.#queuePrefix, now);
    const limitKeys = userId
      ? [
          `${p}:key:${apiKeyId}`,
          userRateLimitKeys.minute(this.#queuePrefix, apiKeyId, userId),
          userRateLimitKeys.hour(this.#queuePrefix, apiKeyId, userId),
          ...(spendKey ? [spendKey] : []),
        ]
      : [`${p}:key:${apiKeyId}`];
    let counts: number[];
    try {
      counts = await this.#redis.lowburnRateLimit(
        limitKeys.length + 1,
        usage,
        ...limitKeys,
        this.#limits.perKeyPerSecond,
        apiUsageKeys.field(apiKeyId, userId, route),
        apiUsageExpiresAt(now),
      );
    } catch (error) {
      throw unavailableIfUnreachable('the queue store', error);
    }
    const [keyCount = 0, keyTtl = 1000, minute, minuteTtl = 60_000, hour = 1, spent] = counts;
    const keyLimit = this.#limits.perKeyPerSecond;
    if (keyCount > keyLimit) {
      this.#blockedUntil.set(apiKeyId, Date.now() + keyTtl);
      throw limited(`API key limit of ${keyLimit} requests per second reached`, keyLimit, keyTtl);
    }
    if (minute === undefined) {
      return { headers: headers(keyLimit, keyLimit - keyCount, keyTtl), spentMicroUsd: undefined };
    }
    const limit = this.userLimit(hour - 1);
    if (minute > limit) {
      throw limited(`user "${userId}" may send ${limit} requests per minute`, limit, minuteTtl);
    }
    return { headers: headers(limit, limit - minute, minuteTtl), spentMicroUsd: spent };
  }

  /** Throws 429 without any I/O while this process saw `apiKeyId` over its limit this window. */
  assertKeyNotBlocked(apiKeyId: string): void {
    const until = this.#blockedUntil.get(apiKeyId);
    if (until === undefined) return;
    const left = until - Date.now();
    if (left <= 0) {
      this.#blockedUntil.delete(apiKeyId);
      return;
    }
    const limit = this.#limits.perKeyPerSecond;
    throw limited(`API key limit of ${limit} requests per second reached`, limit, left);
  }

  /** Throws 429 when this IP already failed authentication too often. */
  async assertIpNotBlocked(ip: string): Promise<void> {
    const res = await this.#authFailures.get(ip).catch(storeFailure);
    if (res && res.consumedPoints >= this.#limits.authFailuresPerIp) {
      throw limited(
        'too many failed authentications from this address',
        this.#limits.authFailuresPerIp,
        res.msBeforeNext,
      );
    }
  }

  /** Records a failed authentication of an IP. */
  async recordAuthFailure(ip: string): Promise<void> {
    await this.#authFailures.penalty(ip, 1).catch(storeFailure);
  }
}

// rate-limiter-flexible rejects with an Error (not a RateLimiterRes) when Redis is not ready.
function storeFailure(error: unknown): never {
  if (error instanceof RateLimiterRes) throw error;
  throw unavailable('the queue store');
}
