import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiKey } from '../../shared/api-keys/api-keys.ts';
import type { Db } from '../../shared/db/create-db.ts';
import type { DeliveryStatus } from '../../shared/db/database.ts';
import { createLogger } from '../../shared/log/logger.ts';
import { testConfig } from '../../test/fixtures/config.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { watchQueue } from '../../test/fixtures/queue-watch.ts';
import { useRedis } from '../../test/fixtures/redis.ts';
import { devKeyring } from '../../test/fixtures/secrets.ts';
import { type RunningWorker, startWorker } from '../../workers/worker.ts';
import { pruneLedgersJob } from './index.ts';
import {
  deleteExpiredIdempotencyKeys,
  deleteFinishedDeliveries,
  pruneLedgers,
} from './prune-ledgers.ts';

const DAY = 86_400_000;
const RETENTION = 30 * DAY;
const ago = (ms: number) => new Date(Date.now() - ms);

/** A delivery row as the ledger leaves it, last changed at `updatedAt`, with `attempts` rows. */
async function delivery(
  db: Db,
  row: { status: DeliveryStatus; updatedAt: Date; createdAt?: Date; attempts?: number },
): Promise<string> {
  const id = `msg_${randomBytes(16).toString('hex')}`;
  const attempts = row.attempts ?? 1;
  await db
    .insertInto('webhook_deliveries')
    .values({
      id,
      job_id: `generate.${id}`,
      event_type: 'generation.completed',
      url: 'https://hooks.example.com/lowburn',
      payload: JSON.stringify({ type: 'generation.completed' }),
      status: row.status,
      attempts,
      created_at: row.createdAt ?? row.updatedAt,
      updated_at: row.updatedAt,
    })
    .execute();
  for (let attempt = 1; attempt <= attempts; attempt++) {
    await db
      .insertInto('webhook_attempts')
      .values({ delivery_id: id, attempt, status_code: 500, duration_ms: 12 })
      .execute();
  }
  return id;
}

async function idempotencyKey(db: Db, apiKeyId: string, expiresAt: Date): Promise<string> {
  const key = `order-${randomBytes(6).toString('hex')}`;
  await db
    .insertInto('idempotency_keys')
    .values({ api_key_id: apiKeyId, key, request_hash: 'h', expires_at: expiresAt })
    .execute();
  return key;
}

const deliveryIds = async (db: Db) =>
  (await db.selectFrom('webhook_deliveries').select('id').orderBy('id').execute()).map((r) => r.id);

const attemptOwners = async (db: Db) =>
  new Set(
    (await db.selectFrom('webhook_attempts').select('delivery_id').execute()).map(
      (r) => r.delivery_id,
    ),
  );

describe('pruneLedgers', () => {
  const database = useTestDatabase();
  let apiKeyId: string;
  beforeEach(async () => {
    await sql`TRUNCATE webhook_deliveries, webhook_attempts, idempotency_keys, webhook_disabled_urls`.execute(
      database.db,
    );
    apiKeyId = (
      await createApiKey(database.db, { name: 'prune', scopes: ['generate'] }, devKeyring())
    ).id;
  });
  const prune = (options: Partial<Parameters<typeof pruneLedgers>[0]> = {}) =>
    pruneLedgers({ db: database.db, webhookRetentionMs: RETENTION, budgetMs: 60_000, ...options });

  it('deletes finished deliveries older than the retention with their attempts, and nothing else', async () => {
    const { db } = database;
    const finished = ['succeeded', 'failed', 'dead', 'disabled'] as const;
    const old = await Promise.all(
      finished.map((status) => delivery(db, { status, updatedAt: ago(40 * DAY), attempts: 3 })),
    );
    const young = await Promise.all(
      finished.map((status) => delivery(db, { status, updatedAt: ago(29 * DAY) })),
    );
    // Pending is never finished, however old: queued, asleep between attempts, or in flight.
    const pending = await delivery(db, {
      status: 'pending',
      updatedAt: ago(90 * DAY),
      attempts: 2,
    });
    // Created long ago but replayed and delivered yesterday: its retention runs from then.
    const replayed = await delivery(db, {
      status: 'succeeded',
      createdAt: ago(90 * DAY),
      updatedAt: ago(DAY),
    });
    // A 410 recorded for the key points at an old delivery: the record stays, the pointer goes.
    await db
      .insertInto('webhook_disabled_urls')
      .values({ api_key_id: apiKeyId, url: 'https://gone.example.com', delivery_id: old[3] ?? '' })
      .execute();

    const result = await prune();

    expect(result).toEqual({ deliveries: 4, idempotencyKeys: 0, statements: 2, done: true });
    expect(await deliveryIds(db)).toEqual([...young, pending, replayed].sort());
    expect(await attemptOwners(db)).toEqual(new Set([...young, pending, replayed]));
    expect(
      await db
        .selectFrom('webhook_attempts')
        .select('attempt')
        .where('delivery_id', '=', pending)
        .execute(),
    ).toHaveLength(2);
    expect(await db.selectFrom('webhook_disabled_urls').selectAll().execute()).toEqual([
      expect.objectContaining({ url: 'https://gone.example.com', delivery_id: null }),
    ]);
    expect(await prune()).toEqual({ deliveries: 0, idempotencyKeys: 0, statements: 2, done: true });
  });

  it('deletes idempotency keys once expired and keeps the live ones', async () => {
    const { db } = database;
    const expired = await Promise.all([
      idempotencyKey(db, apiKeyId, ago(1_000)),
      idempotencyKey(db, apiKeyId, ago(30 * DAY)),
    ]);
    const live = await Promise.all([
      idempotencyKey(db, apiKeyId, ago(-60_000)),
      idempotencyKey(db, apiKeyId, ago(-DAY)),
    ]);

    expect(await prune()).toMatchObject({ idempotencyKeys: 2, done: true });

    const left = await db.selectFrom('idempotency_keys').select('key').orderBy('key').execute();
    expect(left.map((r) => r.key)).toEqual([...live].sort());
    expect(expired.some((key) => left.some((r) => r.key === key))).toBe(false);
  });

  it('deletes at most batchSize rows per statement, taking the ledgers in turn', async () => {
    const { db } = database;
    for (let i = 0; i < 7; i++) await delivery(db, { status: 'dead', updatedAt: ago(40 * DAY) });
    for (let i = 0; i < 5; i++) await idempotencyKey(db, apiKeyId, ago(DAY));
    // Postgres itself counts the rows of every DELETE statement; the cascade to the attempts is
    // one statement per batch too.
    await sql`CREATE TABLE delete_log (seq serial, tbl text, n int)`.execute(db);
    await sql`
      CREATE FUNCTION log_delete() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO delete_log (tbl, n) SELECT TG_TABLE_NAME, count(*) FROM old_rows;
        RETURN NULL;
      END $$`.execute(db);
    for (const table of ['webhook_deliveries', 'webhook_attempts', 'idempotency_keys']) {
      await sql`
        CREATE TRIGGER ${sql.id(`log_${table}`)} AFTER DELETE ON ${sql.table(table)}
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION log_delete()`.execute(
        db,
      );
    }
    try {
      const result = await prune({ batchSize: 3 });

      expect(result).toEqual({ deliveries: 7, idempotencyKeys: 5, statements: 5, done: true });
      const log = await sql<{ tbl: string; n: number }>`
        SELECT tbl, n FROM delete_log WHERE n > 0 ORDER BY seq`.execute(db);
      expect(log.rows).toEqual([
        { tbl: 'webhook_deliveries', n: 3 },
        { tbl: 'webhook_attempts', n: 3 },
        { tbl: 'idempotency_keys', n: 3 },
        { tbl: 'webhook_deliveries', n: 3 },
        { tbl: 'webhook_attempts', n: 3 },
        { tbl: 'idempotency_keys', n: 2 },
        { tbl: 'webhook_deliveries', n: 1 },
        { tbl: 'webhook_attempts', n: 1 },
      ]);
    } finally {
      for (const table of ['webhook_deliveries', 'webhook_attempts', 'idempotency_keys']) {
        await sql`DROP TRIGGER ${sql.id(`log_${table}`)} ON ${sql.table(table)}`.execute(db);
      }
      await sql`DROP FUNCTION log_delete(); DROP TABLE delete_log`.execute(db);
    }
  });

  it('stops after the round that spends its budget; the next run carries on', async () => {
    const { db } = database;
    for (let i = 0; i < 5; i++) await delivery(db, { status: 'failed', updatedAt: ago(31 * DAY) });
    for (let i = 0; i < 3; i++) await idempotencyKey(db, apiKeyId, ago(DAY));

    expect(await prune({ batchSize: 2, budgetMs: 0 })).toEqual({
      deliveries: 2,
      idempotencyKeys: 2,
      statements: 2,
      done: false,
    });
    expect(await prune({ batchSize: 2 })).toEqual({
      deliveries: 3,
      idempotencyKeys: 1,
      statements: 3,
      done: true,
    });
    expect(await deliveryIds(db)).toEqual([]);
  });

  it('starts no statement once its signal is aborted', async () => {
    const { db } = database;
    await delivery(db, { status: 'dead', updatedAt: ago(40 * DAY) });

    expect(await prune({ signal: AbortSignal.abort() })).toEqual({
      deliveries: 0,
      idempotencyKeys: 0,
      statements: 0,
      done: false,
    });
    expect(await deliveryIds(db)).toHaveLength(1);
  });

  it('skips, without waiting, a delivery a replay holds, and keeps it once replayed', async () => {
    const { db } = database;
    const held = await delivery(db, { status: 'dead', updatedAt: ago(40 * DAY) });
    await delivery(db, { status: 'dead', updatedAt: ago(40 * DAY) });

    await db.transaction().execute(async (replay) => {
      // What replayDeliveries does: lock the row, then make it pending on a new run.
      await sql`SELECT id FROM webhook_deliveries WHERE id = ${held} FOR UPDATE`.execute(replay);
      expect(await prune()).toMatchObject({ deliveries: 1, done: true });
      await replay
        .updateTable('webhook_deliveries')
        .set({ status: 'pending', run: 1, run_attempts: 0 })
        .where('id', '=', held)
        .execute();
    });

    expect(await deliveryIds(db)).toEqual([held]);
    expect(await prune()).toMatchObject({ deliveries: 0 });
    expect(await deliveryIds(db)).toEqual([held]);
  });

  it('finds its rows through indexes, not by scanning the ledgers', async () => {
    const plan = (statement: ReturnType<typeof deleteFinishedDeliveries>) =>
      database.db.transaction().execute(async (trx) => {
        await sql`SET LOCAL enable_seqscan = off`.execute(trx);
        const rows = await sql<{ 'QUERY PLAN': string }>`EXPLAIN ${statement}`.execute(trx);
        return rows.rows.map((r) => r['QUERY PLAN']).join('\n');
      });

    expect(await plan(deleteFinishedDeliveries(ago(RETENTION), 5_000))).toContain(
      'webhook_deliveries_finished',
    );
    expect(await plan(deleteExpiredIdempotencyKeys(new Date(), 5_000))).toContain(
      'idempotency_keys_expires',
    );
  });
});

describe('the prune-ledgers job', () => {
  const database = useTestDatabase();
  const r = useRedis();
  const workers: RunningWorker[] = [];
  const closers: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.stop();
    for (const close of closers.splice(0)) await close();
  });

  it('is scheduled daily and prunes by WEBHOOK_RETENTION, counting what it deleted', async () => {
    const { db } = database;
    const config = testConfig({
      QUEUE_PREFIX: r.prefix,
      DATABASE_URL: database.url,
      WEBHOOK_RETENTION: '2d',
    });
    const worker = await startWorker({
      config,
      catalog: { 'prune-ledgers': pruneLedgersJob },
      log: createLogger({ level: 'silent' }),
    });
    workers.push(worker);
    const { queues, events, close } = await watchQueue(r.redis, r.prefix, 'prune-ledgers');
    closers.push(close);

    expect(await queues.get(pruneLedgersJob).getJobSchedulers()).toEqual([
      expect.objectContaining({ key: 'prune-ledgers', pattern: '20 1 * * *', tz: 'UTC' }),
    ]);

    await delivery(db, { status: 'succeeded', updatedAt: ago(3 * DAY) });
    const kept = await delivery(db, { status: 'succeeded', updatedAt: ago(DAY) });
    const job = await queues.add(pruneLedgersJob, {});

    expect(await job.waitUntilFinished(events, 15_000)).toEqual({
      deliveries: 1,
      idempotencyKeys: 0,
      statements: 2,
      done: true,
    });
    expect(await deliveryIds(db)).toEqual([kept]);
    const metrics = await (await fetch(`http://127.0.0.1:${worker.healthPort}/metrics`)).text();
    expect(metrics).toContain('lowburn_ledger_pruned_rows_total{ledger="webhook_deliveries"} 1');
  });
});
