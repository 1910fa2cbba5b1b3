import type { RedisClient } from '../redis/connections.ts';
import type { Ping } from './ping.ts';

/** The Redis stream that buffers pings between ingest and flush. */
export const telemetryStream = (prefix: string) => `${prefix}:telemetry:stream`;
/** Pings in the stream not yet deleted by a flush: the buffer's depth, which the cap bounds. */
export const telemetryBuffered = (prefix: string) => `${prefix}:telemetry:buffered`;
/** The consumer group every flushing worker reads through. */
export const FLUSH_GROUP = 'flush';

// One stream entry per accepted batch: `p` is the batch's JSON array, `n` its ping count. (Entries
// written before batches were kept whole hold one ping object in `p` and no `n`; the flush reads
// both.) An entry per ping cost Redis ~4 µs and the flush's parser as much again per ping.
//
// Checks the cap and appends in one atomic step: concurrent API instances can never push the
// buffer past it, and a refused batch leaves nothing behind. The counter resets itself when the
// stream is empty, so a counter that drifted (a stream deleted by hand) heals at the next drain.
const APPEND = `
local n = tonumber(ARGV[2])
if redis.call('XLEN', KEYS[1]) == 0 then redis.call('SET', KEYS[2], 0) end
if (tonumber(redis.call('GET', KEYS[2])) or 0) + n > tonumber(ARGV[1]) then return -1 end
redis.call('XADD', KEYS[1], '*', 'n', ARGV[2], 'p', ARGV[3])
redis.call('INCRBY', KEYS[2], n)
return n`;

// Acknowledges and deletes flushed entries, and takes their pings off the counter — only for
// entries this call deleted, so two flushes finishing the same reclaimed entry count it once.
// ARGV: group, then id and ping count per entry.
const ACKNOWLEDGE = `
local flushed = 0
for i = 2, #ARGV, 2 do
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
  if redis.call('XDEL', KEYS[1], ARGV[i]) == 1 then flushed = flushed + tonumber(ARGV[i + 1]) end
end
local left = redis.call('DECRBY', KEYS[2], flushed)
if left < 0 then redis.call('SET', KEYS[2], 0) end
return flushed`;

type BufferRedis = RedisClient & {
  lowburnAppendPings(
    stream: string,
    counter: string,
    cap: number,
    n: number,
    json: string,
  ): Promise<number>;
  lowburnAcknowledgePings(
    stream: string,
    counter: string,
    group: string,
    ...idsAndCounts: (string | number)[]
  ): Promise<number>;
};

function withScripts(redis: RedisClient): BufferRedis {
  if (!('lowburnAppendPings' in redis)) {
    redis.defineCommand('lowburnAppendPings', { numberOfKeys: 2, lua: APPEND });
    redis.defineCommand('lowburnAcknowledgePings', { numberOfKeys: 2, lua: ACKNOWLEDGE });
  }
  return redis as BufferRedis;
}

/**
 * Appends a validated batch to the stream as one entry, in one round trip. Returns `false` when
 * the unflushed buffer would exceed `cap` pings: the caller answers 503, and no ping is ever
 * trimmed unwritten.
 */
export async function appendPings(
  redis: RedisClient,
  options: { prefix: string; cap: number },
  pings: readonly Ping[],
): Promise<boolean> {
  if (pings.length === 0) return true;
  const added = await withScripts(redis).lowburnAppendPings(
    telemetryStream(options.prefix),
    telemetryBuffered(options.prefix),
    options.cap,
    pings.length,
    JSON.stringify(pings),
  );
  return added >= 0;
}

/**
 * After their pings are committed: acknowledges and deletes `entries` (id and ping count each)
 * and takes their pings off the buffer's depth. Returns the pings taken off.
 */
export function acknowledgePings(
  redis: RedisClient,
  prefix: string,
  entries: readonly { id: string; pings: number }[],
): Promise<number> {
  return withScripts(redis).lowburnAcknowledgePings(
    telemetryStream(prefix),
    telemetryBuffered(prefix),
    FLUSH_GROUP,
    ...entries.flatMap((e) => [e.id, e.pings]),
  );
}

/**
 * The pings a stream entry holds: its batch or, in an entry written before batches were kept
 * whole, one ping. Throws (a `SyntaxError`) for an entry that is not JSON.
 */
export function entryPings(fields: readonly string[]): Ping[] {
  const at = fields.indexOf('p');
  const value: unknown = JSON.parse(at === -1 ? '' : (fields[at + 1] ?? ''));
  return Array.isArray(value) ? (value as Ping[]) : [value as Ping];
}

/** Unflushed pings (read or not) and the age of the oldest, for metrics and back-pressure. */
export async function bufferStats(
  redis: RedisClient,
  prefix: string,
  now = Date.now(),
): Promise<{ depth: number; oldestAgeMs: number }> {
  const [depth, first] = await Promise.all([
    redis.get(telemetryBuffered(prefix)),
    redis.xrange(telemetryStream(prefix), '-', '+', 'COUNT', 1),
  ]);
  const id = first[0]?.[0];
  return {
    depth: id ? Number(depth ?? 0) : 0,
    oldestAgeMs: id ? Math.max(0, now - Number(id.split('-')[0])) : 0,
  };
}
