import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { ApiConfig } from '../shared/config/load-config.ts';
import { ApiError, unavailable } from './api-error.ts';

type Limits = ApiConfig['rateLimits'];

/** `RateLimit-*` headers (IETF draft) and `Retry-After` for a window. */
function headers(limit: number, remaining: number, msBeforeNext: number): Record<string, string> {
  const reset = String(Math.max(1, Math.ceil(msBeforeNext / 1000)));
  return {
    'ratelimit-limit': String(limit),
    'ratelimit-remaining': String(Math.max(0, remaining)),
    'ratelimit-reset': reset,
  };
}

function limited(what: string, limit: number, res: RateLimiterRes): ApiError {
  const h = headers(limit, 0, res.msBeforeNext);
  return new ApiError(429, 'rate_limited', `${what}; retry in ${h['ratelimit-reset']} s`, {
    headers: { ...h, 'retry-after': h['ratelimit-reset'] ?? '1' },
  });
}

/** Runs a limiter call: over the limit → 429 from `onLimit`; the store failing → 503. */
async function attempt<T>(
  call: Promise<T>,
  onLimit?: (res: RateLimiterRes) => ApiError,
): Promise<T> {
  try {
    return await call;
  } catch (error) {
    if (error instanceof RateLimiterRes && onLimit) throw onLimit(error);
    if (error instanceof RateLimiterRes) throw error;
    // Not a RateLimiterRes: Redis is down or not ready.
    throw unavailable('the queue store');
  }
}

/**
 * Rate limits in Redis (rate-limiter-flexible): per API key per second, per end user per
 * minute with lower limits for users who sent many requests in the last hour, and failed
 * authentications per client IP. All fail fast (503) when Redis is not ready.
 */
export class RateLimits {
  readonly #limits: Limits;
  readonly #perKey: RateLimiterRedis;
  readonly #userMinute: RateLimiterRedis;
  readonly #userHour: RateLimiterRedis;
  readonly #authFailures: RateLimiterRedis;

  constructor(options: { redis: Redis; prefix: string; limits: Limits }) {
    const { redis, prefix, limits } = options;
    const make = (name: string, points: number, duration: number) =>
      new RateLimiterRedis({
        storeClient: redis,
        keyPrefix: `${prefix}:rl:${name}`,
        points,
        duration,
        rejectIfRedisNotReady: true,
      });
    this.#limits = limits;
    this.#perKey = make('key', limits.perKeyPerSecond, 1);
    // Counters only: the limit depends on the user's tier, decided below.
    this.#userMinute = make('user-min', Number.MAX_SAFE_INTEGER, 60);
    this.#userHour = make('user-hour', Number.MAX_SAFE_INTEGER, 3_600);
    this.#authFailures = make('auth-fail', limits.authFailuresPerIp, 300);
  }

  /** The per-minute limit for a user who made `lastHour` requests this hour. */
  userLimit(lastHour: number): number {
    let limit = this.#limits.perUserPerMinute;
    for (const tier of this.#limits.userTiers) {
      if (lastHour > tier.afterPerHour) limit = Math.min(limit, tier.perMinute);
    }
    return limit;
  }

  /** Counts one request of an API key; throws 429 past its per-second limit. Returns headers. */
  async consumeKey(apiKeyId: string): Promise<Record<string, string>> {
    const limit = this.#limits.perKeyPerSecond;
    const res = await attempt(this.#perKey.consume(apiKeyId), (over) =>
      limited(`API key limit of ${limit} requests per second reached`, limit, over),
    );
    return headers(limit, res.remainingPoints, res.msBeforeNext);
  }

  /** Counts one request of an end user; throws 429 past their tier's per-minute limit. */
  async consumeUser(apiKeyId: string, userId: string): Promise<Record<string, string>> {
    const key = `${apiKeyId}:${userId}`;
    const [minute, hour] = await Promise.all([
      attempt(this.#userMinute.consume(key)),
      attempt(this.#userHour.consume(key)),
    ]);
    const limit = this.userLimit(hour.consumedPoints - 1);
    if (minute.consumedPoints > limit) {
      throw limited(`user "${userId}" may send ${limit} requests per minute`, limit, minute);
    }
    return headers(limit, limit - minute.consumedPoints, minute.msBeforeNext);
  }

  /** Throws 429 when this IP already failed authentication too often. */
  async assertIpNotBlocked(ip: string): Promise<void> {
    const res = await attempt(this.#authFailures.get(ip));
    if (res && res.consumedPoints >= this.#limits.authFailuresPerIp) {
      throw limited(
        'too many failed authentications from this address',
        this.#limits.authFailuresPerIp,
        res,
      );
    }
  }

  /** Records a failed authentication of an IP. */
  async recordAuthFailure(ip: string): Promise<void> {
    await attempt(this.#authFailures.penalty(ip, 1));
  }
}
