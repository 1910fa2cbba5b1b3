import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { useRedis } from '../../test/fixtures/redis.ts';
import { bufferedPings, pendingPings } from '../../test/fixtures/telemetry-buffer.ts';
import { writeCounter } from '../../test/fixtures/write-counter.ts';
import { createLogger } from '../log/logger.ts';
import { appendPings, bufferStats, telemetryStream } from './buffer.ts';
import { flushTelemetry } from './flush.ts';
import type { Ping } from './ping.ts';

const log = createLogger({ level: 'silent' });
const ping = (over: Partial<Ping> = {}): Ping => ({
  pingId: randomUUID(),
  deviceId: 'device-1',
  ts: new Date().toISOString(),
  metric: 'temp.c',
  value: 21.5,
  ...over,
});

describe('flushTelemetry', () => {
  const pg = useTestDatabase();
  const r = useRedis();
  const options = () => ({
    redis: r.redis,
    db: pg.db,
    prefix: r.prefix,
    log,
    batchSize: 5_000,
    budgetMs: 30_000,
  });
  beforeEach(async () => {
    await sql`TRUNCATE telemetry, telemetry_late, export_runs`.execute(pg.db);
  });
  const count = async (table = 'telemetry') =>
    Number(
      (await sql<{ n: string }>`SELECT count(*) AS n FROM ${sql.table(table)}`.execute(pg.db))
        .rows[0]?.n,
    );

  it('writes N pings with a bounded number of write statements, independent of N', async () => {
    for (const n of [1_000, 12_000]) {
      await sql`TRUNCATE telemetry`.execute(pg.db);
      const pings = Array.from({ length: n }, () => ping());
      for (let i = 0; i < n; i += 1_000) {
        await appendPings(r.redis, { prefix: r.prefix, cap: 1e9 }, pings.slice(i, i + 1_000));
      }
      // The depth the cap and the metrics read is the pings in the stream.
      expect((await bufferStats(r.redis, r.prefix)).depth).toBe(n);
      expect(await r.redis.xlen(telemetryStream(r.prefix))).toBe(n / 1_000);
      const { counted, plugin } = writeCounter();
      const result = await flushTelemetry({ ...options(), db: pg.db.withPlugin(plugin) });
      expect(result).toMatchObject({ read: n, inserted: n, duplicates: 0, drained: true });
      expect(await count()).toBe(n);
      // One COPY per 5,000-ping batch, plus at most one partition CREATE for a new day.
      expect(counted.writes).toBeLessThanOrEqual(Math.ceil(n / 5_000) + 1);
      expect(await r.redis.xlen(telemetryStream(r.prefix))).toBe(0);
      expect((await bufferStats(r.redis, r.prefix)).depth).toBe(0);
    }
  });

  it('stores a ping sent twice once', async () => {
    const once = ping();
    await appendPings(r.redis, { prefix: r.prefix, cap: 1e9 }, [once, ping(), once]);
    await appendPings(r.redis, { prefix: r.prefix, cap: 1e9 }, [once]);
    const result = await flushTelemetry(options());
    expect(result).toMatchObject({ read: 4, inserted: 2, duplicates: 2 });
    const rows = await pg.db
      .selectFrom('telemetry')
      .selectAll()
      .where('ping_id', '=', once.pingId)
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      device_id: 'device-1',
      metric: 'temp.c',
      value: 21.5,
      attrs: null,
    });
  });

  it('writes new batches with COPY; one that meets a stored ping is rewritten with ON CONFLICT', async () => {
    const stored = ping();
    await appendPings(r.redis, { prefix: r.prefix, cap: 1e9 }, [stored]);
    await flushTelemetry(options());
    // One entry per batch (batchSize 1), one lane: the batches run in order.
    for (const batch of [[ping(), stored], [ping()], [ping()]]) {
      await appendPings(r.redis, { prefix: r.prefix, cap: 1e9 }, batch);
    }
    const { counted, plugin } = writeCounter();
    const result = await flushTelemetry({
      ...options(),
      db: pg.db.withPlugin(plugin),
      batchSize: 1,
      lanes: 1,
    });
    expect(result).toMatchObject({ read: 4, inserted: 3, duplicates: 1, rewrites: 1 });
    // The COPY that failed on the stored ping, its rewrite; the next batch takes the conflict
    // path and, having no duplicate, sends the one after it back to COPY.
    expect(counted.verbs).toEqual(['COPY', 'INSERT', 'INSERT', 'COPY']);
    expect(await count()).toBe(4);
    expect(await r.redis.xlen(telemetryStream(r.prefix))).toBe(0);
  });

  it('stores each ping once when two lanes write batches sharing pings', async () => {
    // Entries holding the same pings in opposite orders, written by two lanes at once: the
    // second COPY waits for the first, fails, and is rewritten; no deadlock.
    const shared = Array.from({ length: 200 }, (_, i) => ping({ deviceId: `device-${i % 7}` }));
    for (let i = 0; i < 10; i++) {
      const own = Array.from({ length: 50 }, () => ping());
      const batch = i % 2 === 0 ? [...shared, ...own] : [...own, ...shared].reverse();
      await appendPings(r.redis, { prefix: r.prefix, cap: 1e9 }, batch);
    }
    const result = await flushTelemetry({ ...options(), batchSize: 250, lanes: 2 });
    expect(result).toMatchObject({ read: 2_500, inserted: 700, duplicates: 1_800, drained: true });
    expect(result.rewrites).toBeGreaterThan(0);
    expect(await count()).toBe(700);
  });

  it('after a crash between commit and acknowledgement, reclaims the batch and still stores each ping once', async () => {
    const pings = Array.from({ length: 300 }, () => ping({ attrs: { fw: '1.2', ok: true } }));
    await appendPings(r.redis, { prefix: r.prefix, cap: 1e9 }, pings);
    const crash = new Error('process died after COMMIT');
    await expect(
      flushTelemetry({
        ...options(),
        consumer: 'crashed',
        afterCommit: () => Promise.reject(crash),
      }),
    ).rejects.toBe(crash);
    expect(await count()).toBe(300);
    expect(await pendingPings(r.redis, r.prefix)).toBe(300);
    expect((await bufferStats(r.redis, r.prefix)).depth).toBe(300);

    const rerun = await flushTelemetry({ ...options(), consumer: 'survivor', reclaimIdleMs: 0 });
    expect(rerun).toMatchObject({ read: 300, inserted: 0, duplicates: 300, drained: true });
    expect(await count()).toBe(300);
    expect(await r.redis.xlen(telemetryStream(r.prefix))).toBe(0);
    expect((await bufferStats(r.redis, r.prefix)).depth).toBe(0);
  });

  it('keeps pings for a day already handed to the cold export in telemetry_late', async () => {
    await pg.db
      .insertInto('export_runs')
      .values({ table_name: 'telemetry', day: '2026-01-02', state: 'dropped' })
      .execute();
    await appendPings(r.redis, { prefix: r.prefix, cap: 1e9 }, [
      ping({ ts: '2026-01-02T10:00:00Z' }),
      ping({ ts: '2026-01-02T23:59:59+00:00' }),
      ping({ ts: '2026-01-03T00:00:00Z' }),
    ]);
    const result = await flushTelemetry(options());
    expect(result.inserted).toBe(3);
    expect(await count('telemetry_late')).toBe(2);
    const hot = await pg.db.selectFrom('telemetry').select('ts').execute();
    expect(hot.map((h) => h.ts.toISOString())).toContain('2026-01-03T00:00:00.000Z');
  });

  it('rewrites a resent late ping on the conflict path too: each ping once, in its table', async () => {
    await pg.db
      .insertInto('export_runs')
      .values({ table_name: 'telemetry', day: '2026-01-02', state: 'dropped' })
      .execute();
    const late = ping({ ts: '2026-01-02T10:00:00Z' });
    await appendPings(r.redis, { prefix: r.prefix, cap: 1e9 }, [late, ping()]);
    await flushTelemetry(options());
    // The resend shares its batch with a new hot ping and a new late one.
    const again = [ping(), late, ping({ ts: '2026-01-02T12:00:00Z' })];
    await appendPings(r.redis, { prefix: r.prefix, cap: 1e9 }, again);
    const result = await flushTelemetry(options());
    expect(result).toMatchObject({ read: 3, inserted: 2, duplicates: 1, rewrites: 1 });
    expect(await count('telemetry_late')).toBe(2);
    expect(await count()).toBe(2);
  });

  it('acknowledges an entry that is not a ping instead of retrying it forever', async () => {
    await r.redis.xadd(telemetryStream(r.prefix), '*', 'p', '{not json');
    await appendPings(r.redis, { prefix: r.prefix, cap: 1e9 }, [ping()]);
    const result = await flushTelemetry(options());
    expect(result).toMatchObject({ read: 1, inserted: 1, malformed: 1, drained: true });
    expect(await r.redis.xlen(telemetryStream(r.prefix))).toBe(0);
  });

  it('files a ping under the day Postgres rounds its timestamp into', async () => {
    // Seven fractional digits: Postgres rounds to the microsecond, i.e. into the next day,
    // whose partition must exist before the insert routes the row there.
    await appendPings(r.redis, { prefix: r.prefix, cap: 1e9 }, [
      ping({ ts: '2026-02-03T23:59:59.9999996Z' }),
    ]);
    const result = await flushTelemetry(options());
    expect(result).toMatchObject({ inserted: 1, poisoned: [], drained: true });
    const [row] = await pg.db.selectFrom('telemetry').select('ts').execute();
    expect(row?.ts.toISOString()).toBe('2026-02-04T00:00:00.000Z');
  });

  it('acknowledges entries whose id or timestamp cannot be encoded, and writes the rest', async () => {
    const badId = { ...ping(), pingId: 'not-a-uuid' };
    const badTs = ping({ ts: '2026-02-30T10:00:00' });
    await appendPings(r.redis, { prefix: r.prefix, cap: 1e9 }, [ping(), badId, badTs]);
    const result = await flushTelemetry(options());
    expect(result).toMatchObject({ read: 3, inserted: 1, drained: true });
    expect(result.poisoned.sort()).toEqual([badId.pingId, badTs.pingId].sort());
    expect(await r.redis.xlen(telemetryStream(r.prefix))).toBe(0);
  });

  it('acknowledges a ping Postgres refuses and writes the rest of its batch', async () => {
    // Bypasses ingest validation, as an entry written by older code would.
    const bad = ping({ deviceId: 'nul\u0000here' });
    await appendPings(r.redis, { prefix: r.prefix, cap: 1e9 }, [ping(), bad, ping()]);
    const result = await flushTelemetry(options());
    expect(result).toMatchObject({
      read: 3,
      inserted: 2,
      duplicates: 0,
      poisoned: [bad.pingId],
      drained: true,
    });
    expect(await count()).toBe(2);
    expect(await r.redis.xlen(telemetryStream(r.prefix))).toBe(0);
  });

  it('refuses a batch that would push the buffer past its cap, keeping every buffered ping', async () => {
    expect(await appendPings(r.redis, { prefix: r.prefix, cap: 5 }, [ping(), ping(), ping()])).toBe(
      true,
    );
    expect(await appendPings(r.redis, { prefix: r.prefix, cap: 5 }, [ping(), ping(), ping()])).toBe(
      false,
    );
    expect(await bufferedPings(r.redis, r.prefix)).toHaveLength(3);
    expect((await bufferStats(r.redis, r.prefix)).depth).toBe(3);
  });

  it('reads entries of one bare ping, as ingest wrote them before batches were kept whole', async () => {
    const old = [ping(), ping()];
    for (const p of old) await r.redis.xadd(telemetryStream(r.prefix), '*', 'p', JSON.stringify(p));
    await appendPings(r.redis, { prefix: r.prefix, cap: 1e9 }, [ping()]);
    const result = await flushTelemetry(options());
    expect(result).toMatchObject({ read: 3, inserted: 3, malformed: 0, drained: true });
    expect(await r.redis.xlen(telemetryStream(r.prefix))).toBe(0);
    expect((await bufferStats(r.redis, r.prefix)).depth).toBe(0);
  });
});
