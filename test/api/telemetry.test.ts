import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createClient, LowburnApiError } from '../../api/client/index.ts';
import type { Db } from '../../shared/db/create-db.ts';
import { partitionName, utcDay } from '../../shared/db/partitions.ts';
import { createLogger } from '../../shared/log/logger.ts';
import type { RedisClient } from '../../shared/redis/connections.ts';
import { telemetryBuffered, telemetryStream } from '../../shared/telemetry/buffer.ts';
import { flushTelemetry } from '../../shared/telemetry/flush.ts';
import type { Ping } from '../../shared/telemetry/ping.ts';
import { startTestApi, type TestApi, useTestApi } from '../fixtures/api-server.ts';
import { useTestDatabase } from '../fixtures/postgres.ts';
import { deletePrefix, testRedis } from '../fixtures/redis.ts';
import { bufferedPings } from '../fixtures/telemetry-buffer.ts';

const log = createLogger({ level: 'silent' });
const HOUR_MS = 3_600_000;

const ping = (over: Partial<Ping> = {}): Ping => ({
  pingId: randomUUID(),
  deviceId: 'device-1',
  ts: new Date().toISOString(),
  metric: 'battery.pct',
  value: 87.5,
  ...over,
});
const pings = (n: number) => Array.from({ length: n }, (_, i) => ping({ value: i }));

interface ErrorBody {
  error: {
    code: string;
    message: string;
    field?: string;
    details?: { index: number; field: string; message: string }[];
  };
}

/** A Redis connection for assertions and flushes; every key under `prefixes()` is deleted after. */
function useAssertRedis(prefixes: () => string[]) {
  let redis: RedisClient | undefined;
  beforeAll(() => {
    redis = testRedis();
  });
  afterAll(async () => {
    for (const prefix of prefixes()) if (redis) await deletePrefix(redis, prefix);
    await redis?.quit();
  });
  const ready = () => {
    if (!redis) throw new Error('useAssertRedis() is only ready inside tests');
    return redis;
  };
  return {
    get redis() {
      return ready();
    },
    /** Pings waiting in the stream. */
    buffered: async (prefix: string) => (await bufferedPings(ready(), prefix)).length,
    /** The pingIds waiting in the stream, oldest first. */
    bufferedIds: async (prefix: string) =>
      (await bufferedPings(ready(), prefix)).map((p) => p.pingId),
    flush: (db: Db, prefix: string) =>
      flushTelemetry({ redis: ready(), db, prefix, log, batchSize: 5_000, budgetMs: 10_000 }),
  };
}

const storedIds = async (db: Db, table = 'telemetry') =>
  (
    await sql<{
      ping_id: string;
    }>`SELECT ping_id FROM ${sql.table(table)} ORDER BY ping_id`.execute(db)
  ).rows.map((r) => r.ping_id);

describe('POST /v1/telemetry', () => {
  const t = useTestApi();
  const r = useAssertRedis(() => [t.api.prefix]);
  let key: string;
  beforeAll(async () => {
    key = (await t.api.key(['telemetry'])).key;
  });
  beforeEach(async () => {
    await r.redis.del(telemetryStream(t.api.prefix), telemetryBuffered(t.api.prefix));
    await sql`TRUNCATE telemetry, telemetry_late`.execute(t.database.db);
  });
  const post = (json: unknown, as = key) => t.api.request('/v1/telemetry', { key: as, json });

  it('buffers one ping and a batch of 1,000 in the stream, writing nothing to Postgres', async () => {
    const one = await post(ping());
    expect(one.status).toBe(202);
    expect(await one.json()).toEqual({ accepted: 1 });

    const batch = pings(1_000);
    const many = await post(batch);
    expect(many.status).toBe(202);
    expect(await many.json()).toEqual({ accepted: 1_000 });

    expect(await r.buffered(t.api.prefix)).toBe(1_001);
    expect((await r.bufferedIds(t.api.prefix)).slice(1)).toEqual(batch.map((p) => p.pingId));
    expect(await storedIds(t.database.db)).toEqual([]);
    expect(await storedIds(t.database.db, 'telemetry_late')).toEqual([]);

    const flushed = await r.flush(t.database.db, t.api.prefix);
    expect(flushed).toMatchObject({ read: 1_001, inserted: 1_001, drained: true });
    expect(await storedIds(t.database.db)).toHaveLength(1_001);
  });

  it('stores a ping sent twice once', async () => {
    const twice = ping({ attrs: { fw: '1.2.0', charging: true } });
    expect((await post(twice)).status).toBe(202);
    expect((await post([twice, ping()])).status).toBe(202);
    expect(await r.buffered(t.api.prefix)).toBe(3);

    const flushed = await r.flush(t.database.db, t.api.prefix);

    expect(flushed).toMatchObject({ read: 3, inserted: 2, duplicates: 1 });
    const rows = await t.database.db
      .selectFrom('telemetry')
      .selectAll()
      .where('ping_id', '=', twice.pingId)
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      device_id: 'device-1',
      metric: 'battery.pct',
      value: 87.5,
      attrs: { fw: '1.2.0', charging: true },
    });
  });

  it('rejects a batch with bad pings as a whole, naming every index and field', async () => {
    const batch: unknown[] = pings(10);
    batch[3] = ping({ pingId: 'not-a-uuid' });
    batch[7] = { ...ping(), colour: 'red' };
    batch[9] = ping({ ts: new Date(Date.now() + HOUR_MS).toISOString() });

    const res = await post(batch);

    expect(res.status).toBe(422);
    const { error } = (await res.json()) as ErrorBody;
    expect(error).toMatchObject({ code: 'invalid_request', field: '3.pingId' });
    expect(error.message).toMatch(/3 problem.*nothing was accepted/);
    expect(error.details).toEqual([
      { index: 3, field: 'pingId', message: expect.stringMatching(/uuid/i) },
      { index: 7, field: 'colour', message: expect.stringMatching(/unknown field/) },
      { index: 9, field: 'ts', message: expect.stringMatching(/in the future.*device clock/) },
    ]);
    expect(await r.buffered(t.api.prefix)).toBe(0);
  });

  it('names the field of a single bad ping without an index', async () => {
    const res = await post(ping({ metric: 'battery pct!' }));

    expect(res.status).toBe(422);
    const { error } = (await res.json()) as ErrorBody;
    expect(error).toMatchObject({ code: 'invalid_request', field: 'metric' });
    expect(error.details).toEqual([{ index: 0, field: 'metric', message: expect.any(String) }]);
    expect(await r.buffered(t.api.prefix)).toBe(0);
  });

  it('refuses more than 1,000 pings, saying so', async () => {
    const tooMany = await post(pings(1_001));
    expect(tooMany.status).toBe(422);
    expect(((await tooMany.json()) as ErrorBody).error).toMatchObject({
      code: 'invalid_request',
      message: expect.stringMatching(/at most 1,?000/),
    });
    expect(await r.buffered(t.api.prefix)).toBe(0);
  });

  it('refuses an empty batch and malformed JSON', async () => {
    const empty = await post([]);
    expect(empty.status).toBe(422);
    expect(((await empty.json()) as ErrorBody).error.code).toBe('invalid_request');

    const malformed = await t.api.request('/v1/telemetry', {
      key,
      method: 'POST',
      body: '[{"pingId":',
      headers: { 'content-type': 'application/json' },
    });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as ErrorBody).error.code).toBe('invalid_json');
    expect(await r.buffered(t.api.prefix)).toBe(0);
  });

  it('refuses a key without the telemetry scope', async () => {
    const { key: other } = await t.api.key(['generate', 'read']);

    const res = await post(ping(), other);

    expect(res.status).toBe(403);
    expect(((await res.json()) as ErrorBody).error).toMatchObject({
      code: 'forbidden',
      message: expect.stringContaining('telemetry'),
    });
    expect(await r.buffered(t.api.prefix)).toBe(0);
  });

  it('accepts a ping from 3 days ago and files it under its own day', async () => {
    const ts = new Date(Date.now() - 72 * HOUR_MS);
    const late = ping({ ts: ts.toISOString() });

    expect((await post([late, ping()])).status).toBe(202);
    await r.flush(t.database.db, t.api.prefix);

    const partition = partitionName('telemetry', utcDay(ts));
    expect(await storedIds(t.database.db, partition)).toEqual([late.pingId]);
    const [row] = await t.database.db
      .selectFrom('telemetry')
      .select('ts')
      .where('ping_id', '=', late.pingId)
      .execute();
    expect(row?.ts).toEqual(ts);
  });

  describe('through the client', () => {
    it('sends 1,500 pings without ids, which all land in Postgres after a flush', async () => {
      const client = createClient({ baseUrl: t.api.url, apiKey: key });
      const input = Array.from({ length: 1_500 }, (_, i) => ({
        deviceId: `device-${i % 3}`,
        ts: new Date().toISOString(),
        metric: 'temp.c',
        value: i,
      }));

      await expect(client.telemetry.send(input)).resolves.toEqual({ accepted: 1_500 });
      const buffered = await r.bufferedIds(t.api.prefix);
      expect(new Set(buffered).size).toBe(1_500);

      await r.flush(t.database.db, t.api.prefix);
      expect(await storedIds(t.database.db)).toEqual([...buffered].sort());
    });

    it('splits a batch the API refuses as too large, and every ping arrives', async () => {
      const client = createClient({ baseUrl: t.api.url, apiKey: key });
      // About 450 bytes a ping: 1,000 of them outgrow the default 256 KB body limit, 500 do not.
      const input = Array.from({ length: 1_000 }, (_, i) =>
        ping({ value: i, attrs: { note: 'x'.repeat(300) } }),
      );
      expect(JSON.stringify(input).length).toBeGreaterThan(256 * 1024);

      await expect(client.telemetry.send(input)).resolves.toEqual({ accepted: 1_000 });

      await r.flush(t.database.db, t.api.prefix);
      expect(await storedIds(t.database.db)).toEqual(input.map((p) => p.pingId).sort());
    });

    it('surfaces a rejected batch with every problem in details', async () => {
      const client = createClient({ baseUrl: t.api.url, apiKey: key });
      const input = [ping(), ping({ value: Number.NaN }), ping({ deviceId: '' })];

      const error = await client.telemetry.send(input).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(LowburnApiError);
      expect(error).toMatchObject({
        status: 422,
        code: 'invalid_request',
        field: '1.value',
        details: [
          { index: 1, field: 'value', message: expect.any(String) },
          { index: 2, field: 'deviceId', message: expect.any(String) },
        ],
      });
      expect(await r.buffered(t.api.prefix)).toBe(0);
    });
  });
});

describe('when the telemetry buffer is full', () => {
  const database = useTestDatabase();
  let capped: TestApi | undefined;
  const r = useAssertRedis(() => (capped ? [capped.prefix] : []));
  beforeAll(async () => {
    capped = await startTestApi(database, { TELEMETRY_BUFFER_CAP: '50' });
  });
  afterAll(async () => {
    await capped?.stop();
  });

  it('answers 503 with Retry-After, appends nothing, and accepts again once a flush drained it', async () => {
    const api = capped!;
    const { key } = await api.key(['telemetry']);
    const post = (json: unknown) => api.request('/v1/telemetry', { key, json });
    const first = pings(40);
    const refused = pings(20);

    expect((await post(first)).status).toBe(202);
    const full = await post(refused);
    expect(full.status).toBe(503);
    expect(full.headers.get('retry-after')).toBe('5');
    expect(((await full.json()) as ErrorBody).error.code).toBe('unavailable');
    expect(await r.bufferedIds(api.prefix)).toEqual(first.map((p) => p.pingId));

    const flushed = await r.flush(database.db, api.prefix);
    expect(flushed).toMatchObject({ inserted: 40, drained: true });
    expect(await storedIds(database.db)).toEqual(first.map((p) => p.pingId).sort());
    expect(await r.buffered(api.prefix)).toBe(0);

    const again = await post(refused);
    expect(again.status).toBe(202);
    expect(await again.json()).toEqual({ accepted: 20 });
    await r.flush(database.db, api.prefix);
    expect(await storedIds(database.db)).toEqual(
      [...first, ...refused].map((p) => p.pingId).sort(),
    );
  });
});
