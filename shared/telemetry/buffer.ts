import type { Redis } from 'ioredis';
import type { Ping } from './ping.ts';

/** The Redis stream that buffers pings between ingest and flush. */
export const telemetryStream = (prefix: string) => `${prefix}:telemetry:stream`;
/** The consumer group every flushing worker reads through. */
export const FLUSH_GROUP = 'flush';

// Checks the cap and appends in one atomic step: concurrent API instances can never push the
// buffer past it, and a refused batch leaves no partial entries behind.
const APPEND = `
local n = #ARGV - 1
if redis.call('XLEN', KEYS[1]) + n > tonumber(ARGV[1]) then return -1 end
for i = 2, #ARGV do redis.call('XADD', KEYS[1], '*', 'p', ARGV[i]) end
return n`;

type AppendingRedis = Redis & {
  lowburnAppendPings(key: string, cap: number, ...pings: string[]): Promise<number>;
};

function withAppend(redis: Redis): AppendingRedis {
  if (!('lowburnAppendPings' in redis)) {
    redis.defineCommand('lowburnAppendPings', { numberOfKeys: 1, lua: APPEND });
  }
  return redis as AppendingRedis;
}

/**
 * Appends a validated batch to the stream in one round trip. Returns `false` when the unflushed
 * buffer would exceed `cap`: the caller answers 503, and no ping is ever trimmed unwritten.
 */
export async function appendPings(
  redis: Redis,
  options: { prefix: string; cap: number },
  pings: readonly Ping[],
): Promise<boolean> {
  const added = await withAppend(redis).lowburnAppendPings(
    telemetryStream(options.prefix),
    options.cap,
    ...pings.map((p) => JSON.stringify(p)),
  );
  return added >= 0;
}

/** Unflushed pings (read or not) and the age of the oldest, for metrics and back-pressure. */
export async function bufferStats(
  redis: Redis,
  prefix: string,
  now = Date.now(),
): Promise<{ depth: number; oldestAgeMs: number }> {
  const key = telemetryStream(prefix);
  const [depth, first] = await Promise.all([
    redis.xlen(key),
    redis.xrange(key, '-', '+', 'COUNT', 1),
  ]);
  const id = first[0]?.[0];
  return { depth, oldestAgeMs: id ? Math.max(0, now - Number(id.split('-')[0])) : 0 };
}
