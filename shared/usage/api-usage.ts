import type { RedisClient } from '../redis/connections.ts';

/**
 * How the API's request counts sit in Redis: one hash per UTC hour,
 * `<prefix>:usage:api:YYYY-MM-DDTHH`, a field per API key, end user and route (tab-separated;
 * the user is empty when the request names none) holding the hour's count. The API increments
 * it in the same script call as its rate limits; `rollup-usage` reads the day's 24 hashes.
 */
export const apiUsageKeys = {
  hour: (prefix: string, hour: Date) => `${prefix}:usage:api:${hour.toISOString().slice(0, 13)}`,
  field: (apiKeyId: string, userId: string | undefined, route: string) =>
    `${apiKeyId}\t${userId ?? ''}\t${route}`,
};

/** The one route whose counts name an end user (every other route counts the key alone). */
export const USER_COUNTED_ROUTE = 'POST /v1/generations';

/**
 * The hour hashes' fields naming `userId` under each of `apiKeyIds`, over every hour Redis may
 * still hold (the retention, today included), as `[hash, field]`: what an erasure deletes.
 */
export function userApiUsageFields(
  prefix: string,
  apiKeyIds: readonly string[],
  userId: string,
  now: Date,
): [string, string][] {
  const out: [string, string][] = [];
  const hours = Math.ceil(API_USAGE_RETENTION_S / 3600) + 24;
  for (let h = 0; h <= hours; h++) {
    const hash = apiUsageKeys.hour(prefix, new Date(now.getTime() - h * 3_600_000));
    for (const key of apiKeyIds) {
      out.push([hash, apiUsageKeys.field(key, userId, USER_COUNTED_ROUTE)]);
    }
  }
  return out;
}

/**
 * Every hash of a day expires together, this long after the day's end: a rebuild within it
 * recounts from Redis, a later one keeps the counts `usage_daily` already holds.
 */
export const API_USAGE_RETENTION_S = 8 * 86_400;

/** Unix seconds at which the hour hash of `now` expires (its UTC day's end + the retention). */
export function apiUsageExpiresAt(now: Date): number {
  const dayEnd = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return dayEnd / 1000 + API_USAGE_RETENTION_S;
}

/** One API key's, end user's and route's requests in a period. */
export interface ApiUsageRow {
  apiKeyId: string;
  /** Empty when the requests named no end user. */
  userId: string;
  route: string;
  calls: number;
}

/**
 * The API's counts for a UTC day, summed over its hours, and how many of its hours Redis still
 * held (0: the day's counts are gone from Redis).
 */
export async function readApiUsageDay(
  redis: RedisClient,
  prefix: string,
  day: string,
): Promise<{ rows: ApiUsageRow[]; hoursFound: number }> {
  const start = Date.parse(`${day}T00:00:00Z`);
  const pipeline = redis.pipeline();
  for (let h = 0; h < 24; h++)
    pipeline.hgetall(apiUsageKeys.hour(prefix, new Date(start + h * 3_600_000)));
  const results = (await pipeline.exec()) ?? [];
  const sums = new Map<string, number>();
  let hoursFound = 0;
  for (const [error, hash] of results) {
    if (error) throw error;
    const entries = Object.entries((hash ?? {}) as Record<string, string>);
    if (entries.length > 0) hoursFound++;
    for (const [field, count] of entries) sums.set(field, (sums.get(field) ?? 0) + Number(count));
  }
  const rows = [...sums].map(([field, calls]) => {
    const [apiKeyId = '', userId = '', route = ''] = field.split('\t');
    return { apiKeyId, userId, route, calls };
  });
  return { rows, hoursFound };
}
