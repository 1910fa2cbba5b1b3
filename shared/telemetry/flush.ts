import { hostname } from 'node:os';
import { sql } from 'kysely';
import { writeByDay } from '../db/cold-days.ts';
import { copyFrom, type Db } from '../db/create-db.ts';
import {
  isoToPgMicros,
  type PgCodec,
  pgArray,
  pgBinary,
  pgCopyRows,
  pgMicrosToDay,
} from '../db/pg-binary.ts';
import { sqlState } from '../errors/sql-state.ts';
import type { Logger } from '../log/logger.ts';
import type { RedisClient } from '../redis/connections.ts';
import { acknowledgePings, entryPings, FLUSH_GROUP, telemetryStream } from './buffer.ts';
import type { Ping } from './ping.ts';

/** What one flush did. */
export interface FlushResult {
  batches: number;
  /** Pings read from the stream (including reclaimed ones). */
  read: number;
  /** Rows written to `telemetry` or `telemetry_late`. */
  inserted: number;
  /** Pings already stored (a retry, a resent ping) and skipped by ON CONFLICT. */
  duplicates: number;
  /** Stream entries that were not ping batches; acknowledged and logged, never retried forever. */
  malformed: number;
  /**
   * Batches whose `COPY` failed on a duplicate — a ping already stored (a resend, a retried
   * batch), one twice in the batch, or a deadlock with another writer of the same pings — and
   * were written again, in a new transaction, with `ON CONFLICT DO NOTHING`.
   */
  rewrites: number;
  /** Ping ids Postgres refused (bad data that passed ingest); logged in full and acknowledged. */
  poisoned: string[];
  /** True when the stream was drained; false when the time budget ran out first. */
  drained: boolean;
}

export interface FlushOptions {
  redis: RedisClient;
  db: Db;
  prefix: string;
  log: Logger;
  batchSize: number;
  budgetMs: number;
  /** Pending entries idle this long belong to a crashed flush and are reclaimed. @defaultValue 30_000 */
  reclaimIdleMs?: number;
  consumer?: string;
  signal?: AbortSignal;
  /** Batches written at once from new entries. @defaultValue 2 */
  lanes?: number;
  /** Called after each batch's commit, before its entries are acknowledged (tests crash here). */
  afterCommit?: (batch: { ids: string[]; pings: number }) => Promise<void> | void;
}

type Entry = [id: string, fields: string[]];

const defaultConsumer = () => `${hostname()}-${process.pid}`;

async function ensureGroup(redis: RedisClient, key: string): Promise<void> {
  try {
    // From id 0: pings appended before the group existed are flushed too.
    await redis.xgroup('CREATE', key, FLUSH_GROUP, '0', 'MKSTREAM');
  } catch (error) {
    if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
  }
}

/**
 * Drains the telemetry stream into Postgres: reads through the consumer group in batches,
 * writes each batch with one statement (a binary `COPY`, or `INSERT … SELECT FROM unnest(…) ON
 * CONFLICT DO NOTHING` when the batch may hold stored pings; plus one for late pings; a `COPY`
 * that fails on a duplicate is followed by the conflict path's statements), commits, and only
 * then acknowledges and deletes the entries. A crash between commit and acknowledgement
 * leaves the entries pending; the next flush reclaims them and writes them on the conflict path,
 * a no-op, so each ping is stored exactly once.
 */
export async function flushTelemetry(options: FlushOptions): Promise<FlushResult> {
  const { redis, prefix, batchSize } = options;
  const key = telemetryStream(prefix);
  const consumer = options.consumer ?? defaultConsumer();
  const deadline = Date.now() + options.budgetMs;
  const result: FlushResult = {
    batches: 0,
    read: 0,
    inserted: 0,
    duplicates: 0,
    malformed: 0,
    rewrites: 0,
    poisoned: [],
    drained: false,
  };
  await ensureGroup(redis, key);
  // An entry holds one accepted request's pings (1 to 1,000): read as many entries as make about
  // `batchSize` pings, guessing from the entries read last (first guess: full requests).
  let pingsPerEntry = 1_000;
  const count = () => Math.max(1, Math.min(batchSize, Math.floor(batchSize / pingsPerEntry)));
  // New entries go in with COPY, Postgres's cheapest write (less than half the CPU per row of
  // INSERT … ON CONFLICT), as long as batches come without duplicates. COPY cannot skip a
  // stored ping: a batch holding one fails and is rewritten with ON CONFLICT DO NOTHING, and the
  // batches after it take that path until one has no duplicates. Pending entries (a failed or
  // crashed flush, likely written already) always take it.
  let expectClean = true;
  const write = async (entries: Entry[], fresh: boolean) => {
    const written = await writeBatch(options, entries, result, fresh && expectClean);
    if (fresh) expectClean = written.duplicates === 0;
    pingsPerEntry = Math.max(1, written.pings / entries.length);
  };

  // Three sources, in order: this consumer's own pending entries (a flush of this process that
  // failed, e.g. while Postgres was down: retried at once, not after the reclaim idle time),
  // entries other consumers left pending for too long (a crashed worker), then new entries.
  let ownCursor: string | undefined = '0-0';
  let reclaimCursor: string | undefined = '0-0';
  const open = () => Date.now() < deadline && !options.signal?.aborted;
  while (open() && (ownCursor || reclaimCursor)) {
    let entries: Entry[];
    if (ownCursor) {
      entries = await readGroup(redis, key, consumer, count(), ownCursor);
      // Pending entries come back in id order; continue after the last one seen.
      ownCursor = entries.length > 0 ? entries.at(-1)?.[0] : undefined;
      entries = entries.filter(([, fields]) => Array.isArray(fields));
    } else {
      const [next, claimed] = (await redis.xautoclaim(
        key,
        FLUSH_GROUP,
        consumer,
        options.reclaimIdleMs ?? 30_000,
        reclaimCursor ?? '0-0',
        'COUNT',
        count(),
      )) as [string, Entry[]];
      entries = claimed.filter((e) => e && Array.isArray(e[1]));
      reclaimCursor = next === '0-0' ? undefined : next;
    }
    if (entries.length > 0) await write(entries, false);
  }
  // New entries, `lanes` batches in flight: while one batch waits on Postgres the next is read
  // and parsed, and Postgres works on two transactions (bench:telemetry: ~1.4× one lane).
  const lane = async (): Promise<boolean> => {
    while (open()) {
      const entries = await readGroup(redis, key, consumer, count(), '>');
      if (entries.length === 0) return true;
      await write(entries, true);
    }
    return false;
  };
  if (!ownCursor && !reclaimCursor) {
    const drained = await Promise.all(Array.from({ length: options.lanes ?? 2 }, lane));
    result.drained = drained.every(Boolean);
  }
  return result;
}

/** `>`: entries never delivered; an id: this consumer's pending entries after that id. */
async function readGroup(
  redis: RedisClient,
  key: string,
  consumer: string,
  count: number,
  from: string,
): Promise<Entry[]> {
  const read = (await redis.xreadgroup(
    'GROUP',
    FLUSH_GROUP,
    consumer,
    'COUNT',
    count,
    'STREAMS',
    key,
    from,
  )) as [string, Entry[]][] | null;
  return read?.[0]?.[1] ?? [];
}

/**
 * Writes the pings of `entries` (with COPY first when `copy`), then acknowledges them; returns
 * the pings they held and how many of those were stored already.
 */
async function writeBatch(
  options: FlushOptions,
  entries: Entry[],
  result: FlushResult,
  copy: boolean,
): Promise<{ pings: number; duplicates: number }> {
  const pings: Ping[] = [];
  const counted: { id: string; pings: number }[] = [];
  const poisonedBefore = result.poisoned.length;
  for (const [id, fields] of entries) {
    // `n` is what ingest added to the buffer's depth (absent in entries of one bare ping).
    const at = fields.indexOf('n');
    const n = at === -1 ? undefined : fields[at + 1];
    try {
      const held = entryPings(fields);
      for (const ping of held) pings.push(ping);
      counted.push({ id, pings: n === undefined ? 0 : held.length });
    } catch {
      result.malformed += 1;
      counted.push({ id, pings: Number(n ?? 0) || 0 });
      options.log.error(
        { entryId: id },
        'telemetry stream entry is not a ping batch; acknowledging it',
      );
    }
  }
  const inserted = pings.length > 0 ? await insertBatch(options, pings, result, copy) : 0;
  const duplicates = pings.length - inserted - (result.poisoned.length - poisonedBefore);
  result.inserted += inserted;
  result.duplicates += duplicates;
  result.batches += 1;
  result.read += pings.length;
  await options.afterCommit?.({ ids: counted.map((c) => c.id), pings: pings.length });
  await acknowledgePings(options.redis, options.prefix, counted);
  return { pings: pings.length, duplicates };
}

/**
 * Inserts the batch, with COPY when `copy`; a COPY that meets a stored ping (unique violation;
 * or a deadlock with a writer of the same pings) is rewritten with ON CONFLICT DO NOTHING.
 * When Postgres refuses the batch's data (SQLSTATE class 22, e.g. a value the ingest schema let
 * through), retries ping by ping so one bad ping cannot block the stream forever: the ones
 * Postgres still refuses are logged in full and acknowledged. Any other failure (Postgres down)
 * propagates and the batch stays pending for the next flush.
 */
async function insertBatch(
  options: FlushOptions,
  pings: Ping[],
  result: FlushResult,
  copy: boolean,
): Promise<number> {
  try {
    return await insertPings(options.db, pings, copy);
  } catch (error) {
    const code = sqlState(error);
    if (copy && (code === '23505' || code === '40P01')) {
      result.rewrites += 1;
      return insertBatch(options, pings, result, false);
    }
    if (!code?.startsWith('22')) throw error;
    let inserted = 0;
    for (const ping of pings) {
      try {
        inserted += await insertPings(options.db, [ping], false);
      } catch (single) {
        if (!sqlState(single)?.startsWith('22')) throw single;
        result.poisoned.push(ping.pingId);
        options.log.error({ ping, err: single }, 'Postgres refused a ping; acknowledging it');
      }
    }
    return inserted;
  }
}

type Row = { ping: Ping; ts: number; day: string };

const pingColumn = <T>(name: string, codec: PgCodec<T>, get: (row: Row) => T) => ({
  name,
  codec: codec as PgCodec<unknown>,
  get: get as (row: Row) => unknown,
});
/** The columns a flush writes, each with its binary codec and its value in a row. */
const PING_COLUMNS = [
  pingColumn('ping_id', pgBinary.uuid, (r) => r.ping.pingId),
  pingColumn('device_id', pgBinary.text, (r) => r.ping.deviceId),
  pingColumn('user_id', pgBinary.text, (r) => r.ping.userId),
  pingColumn('ts', pgBinary.timestamptz, (r) => r.ts),
  pingColumn('metric', pgBinary.text, (r) => r.ping.metric),
  pingColumn('value', pgBinary.float8, (r) => r.ping.value),
  pingColumn('attrs', pgBinary.jsonb, (r) => (r.ping.attrs ? JSON.stringify(r.ping.attrs) : null)),
];
const COLUMNS = sql.raw(PING_COLUMNS.map((c) => c.name).join(', '));
const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
/** The order of the `(device_id, ts)` index, then the ping id: one total order for all writers. */
const byDeviceAndTime = (a: Row, b: Row) =>
  compare(a.ping.deviceId, b.ping.deviceId) || a.ts - b.ts || compare(a.ping.pingId, b.ping.pingId);

/**
 * One transaction: pings for days already handed to the cold export go to `telemetry_late`,
 * the rest into their day partitions (created first when missing). The day check runs under
 * the export's per-day lock (see `coldDaysForWrite`), so a day is never exported while a write
 * to its partition is in flight. Returns rows inserted.
 */
async function insertPings(db: Db, pings: Ping[], copy: boolean): Promise<number> {
  // The instant Postgres stores, rounded to the microsecond, decides the day partition.
  const rows = pings.map((ping): Row => {
    const ts = isoToPgMicros(ping.ts);
    return { ping, ts, day: pgMicrosToDay(ts) };
  });
  // In the order of the table's (device_id, ts) index, Postgres inserts into neighbouring index
  // pages (~13 % less of its CPU per row), and concurrent writers of the same pings take their
  // row locks in the same order (no deadlock).
  rows.sort(byDeviceAndTime);
  const days = [...new Set(rows.map((r) => r.day))];
  return writeByDay(db, 'telemetry', days, async (trx, exported) => {
    let inserted = 0;
    for (const [table, part] of [
      ['telemetry', rows.filter((r) => !exported.has(r.day))],
      ['telemetry_late', rows.filter((r) => exported.has(r.day))],
    ] as const) {
      if (part.length === 0) continue;
      // Binary values: Postgres receives typed values instead of parsing text (pg-binary.ts).
      const columns = PING_COLUMNS.map((c) => ({ codec: c.codec, values: part.map(c.get) }));
      if (copy) {
        await copyFrom(sql`${sql.table(table)} (${COLUMNS})`, pgCopyRows(columns)).execute(trx);
        inserted += part.length;
        continue;
      }
      const arrays = columns.map(
        (c) => sql`${pgArray(c.codec, c.values)}::${sql.raw(c.codec.type)}[]`,
      );
      const res = await sql`
        INSERT INTO ${sql.table(table)} (${COLUMNS})
        SELECT * FROM unnest(${sql.join(arrays)})
        ON CONFLICT DO NOTHING`.execute(trx);
      inserted += Number(res.numAffectedRows ?? 0n);
    }
    return inserted;
  });
}
