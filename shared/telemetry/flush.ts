import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import {
  float8Array,
  isoToPgMicros,
  jsonbArray,
  pgMicrosToDay,
  textArray,
  timestamptzArray,
  uuidArray,
} from '../db/binary-arrays.ts';
import { writeByDay } from '../db/cold-days.ts';
import type { Db } from '../db/create-db.ts';
import type { Logger } from '../log/logger.ts';
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
  /** Ping ids Postgres refused (bad data that passed ingest); logged in full and acknowledged. */
  poisoned: string[];
  /** True when the stream was drained; false when the time budget ran out first. */
  drained: boolean;
}

export interface FlushOptions {
  redis: Redis;
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

async function ensureGroup(redis: Redis, key: string): Promise<void> {
  try {
    // From id 0: pings appended before the group existed are flushed too.
    await redis.xgroup('CREATE', key, FLUSH_GROUP, '0', 'MKSTREAM');
  } catch (error) {
    if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
  }
}

/**
 * Drains the telemetry stream into Postgres: reads through the consumer group in batches,
 * writes each batch with one `INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING` (plus one
 * for late pings), commits, and only then acknowledges and deletes the entries. A crash between
 * commit and acknowledgement leaves the entries pending; the next flush reclaims them and the
 * conflict clause makes the rewrite a no-op, so each ping is stored exactly once.
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
    poisoned: [],
    drained: false,
  };
  await ensureGroup(redis, key);
  // An entry holds one accepted request's pings (1 to 1,000): read as many entries as make about
  // `batchSize` pings, guessing from the entries read last (first guess: full requests).
  let pingsPerEntry = 1_000;
  const count = () => Math.max(1, Math.min(batchSize, Math.floor(batchSize / pingsPerEntry)));
  const write = async (entries: Entry[]) => {
    const pings = await writeBatch(options, entries, result);
    pingsPerEntry = Math.max(1, pings / entries.length);
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
    if (entries.length > 0) await write(entries);
  }
  // New entries, `lanes` batches in flight: while one batch waits on Postgres the next is read
  // and parsed, and Postgres works on two transactions (bench:telemetry: ~1.4× one lane).
  const lane = async (): Promise<boolean> => {
    while (open()) {
      const entries = await readGroup(redis, key, consumer, count(), '>');
      if (entries.length === 0) return true;
      await write(entries);
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
  redis: Redis,
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

/** Writes the pings of `entries`, then acknowledges them; returns the pings they held. */
async function writeBatch(
  options: FlushOptions,
  entries: Entry[],
  result: FlushResult,
): Promise<number> {
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
  const inserted = pings.length > 0 ? await insertBatch(options, pings, result) : 0;
  result.inserted += inserted;
  result.duplicates += pings.length - inserted - (result.poisoned.length - poisonedBefore);
  result.batches += 1;
  result.read += pings.length;
  await options.afterCommit?.({ ids: counted.map((c) => c.id), pings: pings.length });
  await acknowledgePings(options.redis, options.prefix, counted);
  return pings.length;
}

/**
 * Inserts the batch; when Postgres refuses its data (SQLSTATE class 22, e.g. a value the ingest
 * schema let through), retries ping by ping so one bad ping cannot block the stream forever:
 * the ones Postgres still refuses are logged in full and acknowledged. Any other failure
 * (Postgres down) propagates and the batch stays pending for the next flush.
 */
async function insertBatch(
  options: FlushOptions,
  pings: Ping[],
  result: FlushResult,
): Promise<number> {
  try {
    return await insertPings(options.db, pings);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code !== 'string' || !code.startsWith('22')) throw error;
    let inserted = 0;
    for (const ping of pings) {
      try {
        inserted += await insertPings(options.db, [ping]);
      } catch (single) {
        const singleCode = (single as { code?: unknown }).code;
        if (typeof singleCode !== 'string' || !singleCode.startsWith('22')) throw single;
        result.poisoned.push(ping.pingId);
        options.log.error({ ping, err: single }, 'Postgres refused a ping; acknowledging it');
      }
    }
    return inserted;
  }
}

/**
 * One transaction: pings for days already handed to the cold export go to `telemetry_late`,
 * the rest into their day partitions (created first when missing). The day check runs under
 * the export's per-day lock (see `coldDaysForWrite`), so a day is never exported while a write
 * to its partition is in flight. Returns rows inserted.
 */
async function insertPings(db: Db, pings: Ping[]): Promise<number> {
  // The instant Postgres stores, rounded to the microsecond, decides the day partition.
  const micros = pings.map((p) => isoToPgMicros(p.ts));
  const dayOf = micros.map(pgMicrosToDay);
  const days = [...new Set(dayOf)];
  return writeByDay(db, 'telemetry', days, async (trx, exported) => {
    const all = pings.map((ping, i) => ({ ping, ts: micros[i] ?? 0, day: dayOf[i] ?? '' }));
    let inserted = 0;
    for (const [table, rows] of [
      ['telemetry', all.filter((r) => !exported.has(r.day))],
      ['telemetry_late', all.filter((r) => exported.has(r.day))],
    ] as const) {
      if (rows.length === 0) continue;
      // Binary arrays: Postgres receives typed values instead of parsing text (binary-arrays.ts).
      const res = await sql`
        INSERT INTO ${sql.table(table)} (ping_id, device_id, user_id, ts, metric, value, attrs)
        SELECT * FROM unnest(
          ${uuidArray(rows.map((r) => r.ping.pingId))}::uuid[],
          ${textArray(rows.map((r) => r.ping.deviceId))}::text[],
          ${textArray(rows.map((r) => r.ping.userId))}::text[],
          ${timestamptzArray(rows.map((r) => r.ts))}::timestamptz[],
          ${textArray(rows.map((r) => r.ping.metric))}::text[],
          ${float8Array(rows.map((r) => r.ping.value))}::float8[],
          ${jsonbArray(rows.map((r) => (r.ping.attrs ? JSON.stringify(r.ping.attrs) : null)))}::jsonb[])
        ON CONFLICT DO NOTHING`.execute(trx);
      inserted += Number(res.numAffectedRows ?? 0n);
    }
    return inserted;
  });
}
