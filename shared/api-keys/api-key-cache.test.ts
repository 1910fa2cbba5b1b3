import { type KyselyPlugin, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { devKeyring } from '../../test/fixtures/secrets.ts';
import type { Db } from '../db/create-db.ts';
import { fromStore } from '../errors/store-unreachable.ts';
import { ApiKeyResolver, createApiKey } from './index.ts';

/** A view of `db` that counts the SELECTs and UPDATEs sent through it. */
function counted(db: Db, options: { failUpdates?: boolean } = {}) {
  const counts = { selects: 0, updates: 0 };
  const plugin: KyselyPlugin = {
    transformQuery: (args) => {
      if (args.node.kind === 'SelectQueryNode') counts.selects++;
      if (args.node.kind === 'UpdateQueryNode') {
        counts.updates++;
        if (options.failUpdates) throw new Error('postgres is read-only right now');
      }
      return args.node;
    },
    transformResult: async (args) => args.result,
  };
  return { db: db.withPlugin(plugin), counts };
}

/** A clock the test moves by hand. */
function clock(start = Date.parse('2030-01-01T00:00:00Z')) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

/** A well-formed key no one created. */
const unknownKey = (i: number) => `lb_${String(i).padStart(8, '0')}_${'x'.repeat(32)}`;

describe('the API key resolver', () => {
  const database = useTestDatabase();

  it('answers a repeated key from memory until the TTL passes, then sees a revocation', async () => {
    const created = await createApiKey(
      database.db,
      { name: 'cached', scopes: ['generate'] },
      devKeyring(),
    );
    const { db, counts } = counted(database.db);
    const time = clock();
    const keys = new ApiKeyResolver({ db, ttlMs: 5_000, now: time.now });

    expect(await keys.resolve(created.key)).toMatchObject({ id: created.id, scopes: ['generate'] });
    expect(counts.selects).toBe(1);
    await sql`UPDATE api_keys SET revoked_at = now() WHERE id = ${created.id}`.execute(database.db);

    time.advance(4_999);
    expect(await keys.resolve(created.key)).toMatchObject({ id: created.id });
    expect(counts.selects).toBe(1);

    time.advance(1);
    expect(await keys.resolve(created.key)).toBeUndefined();
    expect(counts.selects).toBe(2);
    await keys.flush();
  });

  it('keeps honouring a known key through a Postgres outage, for staleIfErrorMs past the TTL', async () => {
    const created = await createApiKey(
      database.db,
      { name: 'outage', scopes: ['telemetry'] },
      devKeyring(),
    );
    let down: Error | undefined;
    const failing: KyselyPlugin = {
      transformQuery: (args) => {
        if (down && args.node.kind === 'SelectQueryNode') throw down;
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    const time = clock();
    const keys = new ApiKeyResolver({
      db: database.db.withPlugin(failing),
      ttlMs: 5_000,
      staleIfErrorMs: 60_000,
      now: time.now,
      onError: () => {},
    });
    expect(await keys.resolve(created.key)).toMatchObject({ id: created.id });

    // Postgres unreachable: the error pg gives when the server is gone, tagged as the pool's
    // client tags it (store-unreachable.test.ts checks that against a real closed port).
    down = fromStore(
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      'postgres',
    );
    time.advance(5_000 + 59_999);
    expect(await keys.resolve(created.key)).toMatchObject({ id: created.id });
    // A key never seen before has nothing to fall back on.
    await expect(keys.resolve(unknownKey(7))).rejects.toThrow('ECONNREFUSED');
    // Past the window the outage shows.
    time.advance(1);
    await expect(keys.resolve(created.key)).rejects.toThrow('ECONNREFUSED');

    // Any other failure is not an outage: no stale answer stands in for it.
    down = new Error('permission denied for table api_keys');
    time.advance(-30_000);
    await expect(keys.resolve(created.key)).rejects.toThrow('permission denied');

    // Back: a fresh lookup, which also sees what changed meanwhile.
    down = undefined;
    await sql`UPDATE api_keys SET revoked_at = now() WHERE id = ${created.id}`.execute(database.db);
    expect(await keys.resolve(created.key)).toBeUndefined();
    await keys.flush();
  });

  it('remembers a miss, so a repeated bad key does not query Postgres again', async () => {
    const { db, counts } = counted(database.db);
    const keys = new ApiKeyResolver({ db, now: clock().now });
    for (let i = 0; i < 5; i++) expect(await keys.resolve(unknownKey(1))).toBeUndefined();
    expect(counts.selects).toBe(1);
  });

  it('rejects malformed keys without querying or caching them', async () => {
    const { db, counts } = counted(database.db);
    const keys = new ApiKeyResolver({ db });
    expect(await keys.resolve('Bearer nope')).toBeUndefined();
    expect(await keys.resolve(undefined)).toBeUndefined();
    expect(counts.selects).toBe(0);
    expect(keys.size).toBe(0);
  });

  it('sends one query for ten concurrent resolves of the same key', async () => {
    const created = await createApiKey(
      database.db,
      { name: 'single flight', scopes: ['read'] },
      devKeyring(),
    );
    const { db, counts } = counted(database.db);
    const keys = new ApiKeyResolver({ db });
    const answers = await Promise.all(Array.from({ length: 10 }, () => keys.resolve(created.key)));
    expect(answers.map((a) => a?.id)).toEqual(Array(10).fill(created.id));
    expect(counts.selects).toBe(1);
    await keys.flush();
    expect(counts.updates).toBe(1);
  });

  it('keeps at most maxEntries answers, evicting the oldest', async () => {
    const { db, counts } = counted(database.db);
    const keys = new ApiKeyResolver({ db, maxEntries: 3, now: clock().now });
    for (let i = 0; i < 5; i++) await keys.resolve(unknownKey(i));
    expect(keys.size).toBe(3);
    expect(counts.selects).toBe(5);

    await keys.resolve(unknownKey(4));
    expect(counts.selects).toBe(5);
    await keys.resolve(unknownKey(0));
    expect(counts.selects).toBe(6);
    expect(keys.size).toBe(3);
  });

  it('hands out answers that cannot be changed for the next request', async () => {
    const created = await createApiKey(
      database.db,
      { name: 'frozen', scopes: ['read'] },
      devKeyring(),
    );
    const keys = new ApiKeyResolver({ db: database.db });
    const record = await keys.resolve(created.key);
    expect(() => (record!.scopes as string[]).push('admin')).toThrow(TypeError);
    expect((await keys.resolve(created.key))?.scopes).toEqual(['read']);
    await keys.flush();
  });

  it('records last use at most once a minute per key', async () => {
    const created = await createApiKey(
      database.db,
      { name: 'touched', scopes: ['read'] },
      devKeyring(),
    );
    const { db, counts } = counted(database.db);
    const time = clock();
    const keys = new ApiKeyResolver({ db, ttlMs: 5_000, now: time.now });
    const lastUsed = async () =>
      (
        await database.db
          .selectFrom('api_keys')
          .select('last_used_at')
          .where('id', '=', created.id)
          .executeTakeFirstOrThrow()
      ).last_used_at;

    await keys.resolve(created.key);
    await keys.flush();
    expect(await lastUsed()).toEqual(new Date(time.now()));
    const first = time.now();

    for (let i = 0; i < 11; i++) {
      time.advance(5_000);
      await keys.resolve(created.key);
    }
    await keys.flush();
    expect(counts.updates).toBe(1);
    expect(await lastUsed()).toEqual(new Date(first));

    time.advance(5_000);
    await keys.resolve(created.key);
    await keys.flush();
    expect(counts.updates).toBe(2);
    expect(await lastUsed()).toEqual(new Date(first + 60_000));
  });

  it('does not write last use again when another process wrote it within the minute', async () => {
    const created = await createApiKey(
      database.db,
      { name: 'fleet', scopes: ['read'] },
      devKeyring(),
    );
    const time = clock();
    const other = new Date(time.now() - 30_000);
    await sql`UPDATE api_keys SET last_used_at = ${other} WHERE id = ${created.id}`.execute(
      database.db,
    );
    const keys = new ApiKeyResolver({ db: database.db, now: time.now });
    await keys.resolve(created.key);
    await keys.flush();
    const row = await database.db
      .selectFrom('api_keys')
      .select('last_used_at')
      .where('id', '=', created.id)
      .executeTakeFirstOrThrow();
    expect(row.last_used_at).toEqual(other);
  });

  it('still authenticates when recording last use fails, and reports the failure', async () => {
    const created = await createApiKey(
      database.db,
      { name: 'touch fails', scopes: ['read'] },
      devKeyring(),
    );
    const { db } = counted(database.db, { failUpdates: true });
    const errors: unknown[] = [];
    const keys = new ApiKeyResolver({ db, onError: (error) => errors.push(error) });
    expect(await keys.resolve(created.key)).toMatchObject({ id: created.id });
    await keys.flush();
    expect(errors).toEqual([new Error('postgres is read-only right now')]);
  });

  it('rejects when Postgres cannot answer, and caches nothing', async () => {
    const created = await createApiKey(
      database.db,
      { name: 'outage', scopes: ['read'] },
      devKeyring(),
    );
    const failing = database.db.withPlugin({
      transformQuery: () => {
        throw new Error('connection refused');
      },
      transformResult: async (args) => args.result,
    });
    const keys = new ApiKeyResolver({ db: failing });
    await expect(keys.resolve(created.key)).rejects.toThrow('connection refused');
    expect(keys.size).toBe(0);
  });
});
