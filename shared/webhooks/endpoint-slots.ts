import { createHash } from 'node:crypto';
import type { RedisClient } from '../redis/connections.ts';

/** An endpoint: an API key and a URL origin (`webhook_deliveries.endpoint`). */
export interface EndpointRef {
  apiKeyId: string;
  endpoint: string;
}

/**
 * How long a slot is held without a word from its holder: longer than a delivery job can wait
 * in BullMQ and run (its 60 s timeout), short enough that a slot a killed worker held comes back
 * by itself within minutes.
 */
export const DEFAULT_LEASE_MS = 120_000;

// One sorted set per endpoint: members are delivery ids, scores the lease's expiry in Redis
// server time (TIME), so the clocks of the workers never matter. Expired leases are reaped on
// every call; an id already holding a lease renews it (a re-run job, a double dispatch) without
// taking a second slot. An id turned away sets the endpoint's "parked" flag (KEYS[2]): a
// finishing job reads Postgres for parked deliveries only when it is set. Returns the ids that
// hold a slot now, in the order given.
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap = tonumber(ARGV[1])
local expiry = now + tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local live = redis.call('ZCARD', KEYS[1])
local got = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('ZSCORE', KEYS[1], id) then
    redis.call('ZADD', KEYS[1], expiry, id)
    got[#got + 1] = id
  elseif live < cap then
    redis.call('ZADD', KEYS[1], expiry, id)
    live = live + 1
    got[#got + 1] = id
  end
end
if live > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if #got < #ARGV - 2 then redis.call('SET', KEYS[2], '1', 'PX', ARGV[2]) end
return got`;

// Gives ARGV[1]'s lease back (when given), then returns the parked flag and the ids holding a
// live lease (expired ones are reaped first): one round trip for a finishing job.
const HELD = `
if ARGV[1] then redis.call('ZREM', KEYS[1], ARGV[1]) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return {redis.call('EXISTS', KEYS[2]), redis.call('ZRANGE', KEYS[1], 0, -1)}`;

type SlotCommands = {
  webhookSlotsAcquire(
    key: string,
    parked: string,
    cap: number,
    leaseMs: number,
    ...ids: string[]
  ): Promise<string[]>;
  webhookSlotsHeld(key: string, parked: string, ...release: string[]): Promise<[number, string[]]>;
};

const defined = new WeakSet<RedisClient>();

function commands(redis: RedisClient): SlotCommands {
  if (!defined.has(redis)) {
    // EVALSHA after the first call: the script text is not sent with every acquire.
    redis.defineCommand('webhookSlotsAcquire', { numberOfKeys: 2, lua: ACQUIRE });
    redis.defineCommand('webhookSlotsHeld', { numberOfKeys: 2, lua: HELD });
    defined.add(redis);
  }
  return redis as unknown as SlotCommands;
}

/**
 * Each endpoint's `cap` slots, fleet-wide, as leases in Redis: a delivery holds one from the
 * moment it is put in BullMQ until its attempt ends. Redis therefore holds at most `cap` jobs of
 * an endpoint, and a dead endpoint holds at most `cap` worker slots, whatever its backlog.
 */
export class EndpointSlots {
  readonly #redis: RedisClient;
  readonly #prefix: string;
  /** Slots per endpoint. */
  readonly cap: number;
  readonly #leaseMs: number;

  constructor(options: { redis: RedisClient; prefix: string; cap: number; leaseMs?: number }) {
    this.#redis = options.redis;
    this.#prefix = options.prefix;
    this.cap = options.cap;
    this.#leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  }

  /** The Redis key of an endpoint's leases; hashed, so a URL never becomes part of a key. */
  key(endpoint: EndpointRef): string {
    const hash = createHash('sha256')
      .update(`${endpoint.apiKeyId} ${endpoint.endpoint}`)
      .digest('hex')
      .slice(0, 24);
    return `${this.#prefix}:webhook-slots:${hash}`;
  }

  /**
   * Takes (or renews) a slot for each id while the endpoint has room, in order.
   * @returns the ids that hold a slot now.
   */
  async acquire(endpoint: EndpointRef, ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const key = this.key(endpoint);
    return commands(this.#redis).webhookSlotsAcquire(
      key,
      `${key}:parked`,
      this.cap,
      this.#leaseMs,
      ...ids,
    );
  }

  /** Gives a delivery's slot back. */
  async release(endpoint: EndpointRef, id: string): Promise<void> {
    await this.#redis.zrem(this.key(endpoint), id);
  }

  /**
   * Gives a delivery's slot back (with `release`) and tells who holds the others, and whether a
   * delivery was turned away since the flag was last cleared (`parked`): only then can the
   * endpoint have deliveries waiting in Postgres that are not the dispatcher's (retries are).
   */
  async state(
    endpoint: EndpointRef,
    release?: string,
  ): Promise<{ held: string[]; parked: boolean }> {
    const key = this.key(endpoint);
    const [parked, held] = await commands(this.#redis).webhookSlotsHeld(
      key,
      `${key}:parked`,
      ...(release === undefined ? [] : [release]),
    );
    return { held, parked: parked === 1 };
  }

  /** The deliveries holding a live slot of the endpoint. */
  async held(endpoint: EndpointRef): Promise<string[]> {
    return (await this.state(endpoint)).held;
  }

  /** Clears the parked flag: a read of Postgres found nothing more waiting. */
  async clearParked(endpoint: EndpointRef): Promise<void> {
    await this.#redis.del(`${this.key(endpoint)}:parked`);
  }
}
