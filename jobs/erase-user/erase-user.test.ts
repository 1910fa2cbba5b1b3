import { randomBytes, randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../shared/api-keys/api-keys.ts';
import type { Db } from '../../shared/db/create-db.ts';
import { ensurePartitions, utcDay } from '../../shared/db/partitions.ts';
import { findErasure, requestErasure } from '../../shared/erasures/ledger.ts';
import { verifyErasure } from '../../shared/erasures/verify.ts';
import { generateQueue } from '../../shared/generation/queue.ts';
import { resolveRequest } from '../../shared/generation/resolve-request.ts';
import type { GeneratePayload } from '../../shared/generation/schema.ts';
import { createGenerationPipeline } from '../../shared/inference/pipeline.ts';
import { createSemanticIndex, type SemanticIndex } from '../../shared/inference/semantic-index.ts';
import { createLogger } from '../../shared/log/logger.ts';
import { createWorkerConnection, type RedisClient } from '../../shared/redis/connections.ts';
import { apiUsageKeys, USER_COUNTED_ROUTE } from '../../shared/usage/api-usage.ts';
import {
  addSpend,
  budgetKeys,
  readBudgetCrossings,
  userRateLimitKeys,
} from '../../shared/usage/budgets.ts';
import { ERASED_USER } from '../../shared/usage/erased-usage.ts';
import { testConfig } from '../../test/fixtures/config.ts';
import { fakeEmbedding } from '../../test/fixtures/fake-embedding.ts';
import { recordAsk } from '../../test/fixtures/generations.ts';
import { type ModelTestServer, startOllamaServer } from '../../test/fixtures/model-servers.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { useRedis } from '../../test/fixtures/redis.ts';
import { devKeyring } from '../../test/fixtures/secrets.ts';
import { waitUntil } from '../../test/fixtures/wait-until.ts';
import { type EraseStep, eraseUser } from './erase-user.ts';
import { ExportInProgressError } from './export-in-progress-error.ts';

const secretsKey = randomBytes(32);
const CAT = 'Summarise: the cat sat on the mat.';
const CAT_AGAIN = 'Summarise:  the cat sat on the mat!';
const DIARY = 'Summarise my diary: I saw Dr. Who on Tuesday.';
const DOG = 'Summarise: the dog chased the ball.';
const log = createLogger({ level: 'silent' });

/** Every row of `table` naming `user` (or, for telemetry, their device), sorted by id. */
async function rowsOf(db: Db, user: string) {
  const all: Record<string, unknown[]> = {};
  for (const table of ['telemetry', 'telemetry_late'] as const) {
    all[table] = await db
      .selectFrom(table)
      .selectAll()
      .where((eb) => eb.or([eb('user_id', '=', user), eb('device_id', '=', `${user}-tablet`)]))
      .orderBy('ping_id')
      .execute();
  }
  for (const table of ['generations', 'generations_late'] as const) {
    all[table] = await db
      .selectFrom(table)
      .selectAll()
      .where('user_id', '=', user)
      .orderBy('id')
      .execute();
  }
  const ids = [...(all.generations ?? []), ...(all.generations_late ?? [])].map(
    (g) => (g as { id: string }).id,
  );
  all.usage_daily = await db
    .selectFrom('usage_daily')
    .selectAll()
    .where('user_id', '=', user)
    .execute();
  all.webhook_deliveries =
    ids.length === 0
      ? []
      : await db.selectFrom('webhook_deliveries').selectAll().where('job_id', 'in', ids).execute();
  all.idempotency_keys =
    ids.length === 0
      ? []
      : await db.selectFrom('idempotency_keys').selectAll().where('job_id', 'in', ids).execute();
  return all;
}

describe('erasing a user at once', () => {
  const database = useTestDatabase();
  const r = useRedis();
  let ollama: ModelTestServer;
  let keyId: string;
  const opened: { index: SemanticIndex; redis: RedisClient }[] = [];
  beforeAll(async () => {
    ollama = await startOllamaServer();
    keyId = (await createApiKey(database.db, { name: 'app', scopes: ['generate'] }, devKeyring()))
      .id;
  });
  afterAll(() => ollama.close());
  afterEach(async () => {
    for (const { index, redis } of opened.splice(0)) {
      await index.close();
      await redis.quit();
    }
  });

  const config = () => testConfig({ OLLAMA_URL: ollama.url }).inference;

  /** A worker: its own Redis connection, semantic index (in memory) and pipeline. */
  function worker() {
    let index: Promise<SemanticIndex> | undefined;
    const open = async () => {
      const redis = createWorkerConnection(r.target);
      const opening = createSemanticIndex({
        redis,
        prefix: r.prefix,
        dimensions: config().embedDimensions,
      });
      opened.push({ index: opening, redis });
      await opening.ready;
      return opening;
    };
    const semanticIndex = () => {
      index ??= open();
      return index;
    };
    const pipeline = createGenerationPipeline({
      config: config(),
      redis: r.redis,
      prefix: r.prefix,
      log,
      semanticIndex,
    });
    return { pipeline, index: semanticIndex };
  }

  const payload = (userId: string, prompt: string, cache?: 'user'): GeneratePayload => ({
    userId,
    apiKeyId: keyId,
    taskType: 'summary',
    prompt,
    ...(cache && { cache }),
  });

  /** Asks through a worker (filling the caches) and records the row as the generate job does. */
  async function ask(
    w: ReturnType<typeof worker>,
    userId: string,
    prompt: string,
    options: { cache?: 'user'; at?: Date } = {},
  ) {
    const outcome = await w.pipeline.generate(
      resolveRequest(payload(userId, prompt, options.cache)),
    );
    await recordAsk(database.db, {
      at: options.at ?? new Date(),
      userId,
      apiKeyId: keyId,
      prompt,
      ...(options.cache && { cache: options.cache }),
    });
    return outcome;
  }

  /** Telemetry, late rows, ledgers and usage for `user`, beside what `ask` recorded. */
  async function seedRest(user: string) {
    const db = database.db;
    const now = new Date();
    await ensurePartitions(db, { from: now, days: 1 });
    const ping = (userId: string | null, device: string) => ({
      ping_id: randomUUID(),
      device_id: device,
      user_id: userId,
      ts: now,
      metric: 'screen',
      value: 1,
      attrs: JSON.stringify({ note: `${user} private` }),
    });
    await db
      .insertInto('telemetry')
      .values([ping(user, 'phone'), ping(user, 'phone'), ping(null, `${user}-tablet`)])
      .execute();
    await db.insertInto('telemetry_late').values(ping(user, 'phone')).execute();
    const gens = await db
      .selectFrom('generations')
      .select(['id', 'created_at'])
      .where('user_id', '=', user)
      .execute();
    const late = await db
      .selectFrom('generations')
      .selectAll()
      .where('id', '=', gens[0]?.id ?? '')
      .executeTakeFirstOrThrow();
    await db
      .insertInto('generations_late')
      .values({
        ...late,
        id: randomUUID(),
        request: JSON.stringify(late.request),
        metadata: null,
        cost_usd: late.cost_usd,
      })
      .execute();
    for (const g of gens) {
      await db
        .insertInto('webhook_deliveries')
        .values({
          id: `msg_${randomBytes(16).toString('hex')}`,
          api_key_id: keyId,
          job_id: g.id,
          event_type: 'generation.completed',
          url: 'https://example.com/hook',
          payload: JSON.stringify({
            type: 'generation.completed',
            data: { answer: `${user} secret` },
          }),
          status: 'succeeded',
        })
        .execute();
      await db
        .insertInto('idempotency_keys')
        .values({
          api_key_id: keyId,
          key: `k-${g.id}`,
          request_hash: 'h',
          job_id: g.id,
          expires_at: new Date(Date.now() + 86_400_000),
        })
        .execute();
    }
    for (const day of [utcDay(now), utcDay(now, -1)]) {
      await db
        .insertInto('usage_daily')
        .values({
          day,
          user_id: user,
          api_key_id: keyId,
          api_calls: '3',
          generations: '2',
          tokens_in: '40',
          tokens_out: '60',
          cost_usd: '0.00012345',
          generations_by_layer: JSON.stringify({ local: 1, exact: 1 }),
          tokens_by_model: JSON.stringify({ 'llama3.2:3b': { in: 40, out: 60, usd: 0.00012345 } }),
        })
        .execute();
    }
  }

  async function usageTotals() {
    return database.db
      .selectFrom('usage_daily')
      .select((eb) => [
        'day',
        eb.fn.sum<string>('generations').as('generations'),
        eb.fn.sum<string>('tokens_out').as('tokens_out'),
        eb.fn.sum<string>('cost_usd').as('cost_usd'),
      ])
      .groupBy('day')
      .orderBy('day')
      .execute();
  }

  const verify = async (erasureId: string) =>
    verifyErasure(
      { db: database.db, redis: r.redis, prefix: r.prefix, secretsKey },
      (await findErasure(database.db, erasureId))!,
    );

  async function erase(user: string, afterStep?: (step: EraseStep) => void) {
    const { id } = await requestErasure(database.db, {
      userId: user,
      deviceIds: [`${user}-tablet`],
      secretsKey,
    });
    const deps = { db: database.db, redis: r.redis, prefix: r.prefix, secretsKey, log };
    return { id, run: () => eraseUser({ ...deps, ...(afterStep && { afterStep }) }, id) };
  }

  it("removes their rows from every hot table and leaves everyone else's identical", async () => {
    const a = worker();
    await ask(a, 'alice', CAT);
    await ask(a, 'alice', DIARY, { cache: 'user' });
    await ask(a, 'bob', DOG);
    await seedRest('alice');
    await seedRest('bob');
    const bobBefore = await rowsOf(database.db, 'bob');
    const totalsBefore = await usageTotals();
    const deliveries = (await rowsOf(database.db, 'alice')).webhook_deliveries as {
      id: string;
      attempts: number;
      status: string;
    }[];

    const { id, run } = await erase('alice');
    const result = await run();

    expect(result.status).toBe('hot-done');
    const left = await rowsOf(database.db, 'alice');
    for (const table of ['telemetry', 'telemetry_late', 'generations', 'generations_late']) {
      expect(left[table], table).toEqual([]);
    }
    expect(left.usage_daily).toEqual([]);
    expect(await rowsOf(database.db, 'bob')).toEqual(bobBefore);
    // Payloads blanked, the delivery's bookkeeping kept.
    const blanked = await database.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where(
        'id',
        'in',
        deliveries.map((d) => d.id),
      )
      .execute();
    expect(blanked).toHaveLength(deliveries.length);
    for (const d of blanked) {
      expect(d.payload).toEqual({ type: 'generation.completed', erased: true });
      expect(d.status).toBe('succeeded');
    }
    expect(
      await database.db
        .selectFrom('idempotency_keys')
        .select('key')
        .where('key', 'like', 'k-%')
        .execute(),
    ).toHaveLength(bobBefore.idempotency_keys?.length ?? 0);
    // Folded: the day totals are what they were, under an id that names nobody.
    expect(await usageTotals()).toEqual(totalsBefore);
    const erasedRows = await database.db
      .selectFrom('usage_daily')
      .select('day')
      .where('user_id', '=', ERASED_USER)
      .execute();
    expect(erasedRows).toHaveLength(2);

    const report = await verify(id);
    expect(report.remaining).toEqual([]);
    expect(report.clean).toBe(true);
    const erasure = await findErasure(database.db, id);
    expect(erasure?.status).toBe('hot-done');
    expect(erasure?.counts.hot).toMatchObject({
      rows: { telemetry: 3, telemetry_late: 1, generations: 2, generations_late: 1 },
      webhookPayloads: 2,
      idempotencyKeys: 2,
      usageRows: 2,
    });
    // A second run of a hot-done erasure changes nothing.
    expect((await run()).status).toBe('hot-done');
  });

  it('leaves no cache answering their prompts on any worker', async () => {
    const a = worker();
    const b = worker();
    await ask(a, 'carol', CAT);
    await ask(a, 'carol', DIARY, { cache: 'user' });
    await ask(a, 'dave', DOG);
    // Worker b answers from the caches before, and holds carol's prompt in its index.
    expect((await b.pipeline.generate(resolveRequest(payload('carol', CAT)))).layer).toBe('exact');
    expect((await b.pipeline.generate(resolveRequest(payload('zed', CAT_AGAIN)))).layer).toBe(
      'semantic',
    );
    const request = resolveRequest(payload('carol', CAT));
    const { namespace } = await b.pipeline.keysOf(request);
    const bIndex = await b.index();
    expect(bIndex.nearest(namespace, fakeEmbedding(CAT), { minScore: 0.9 })).toBeDefined();

    const { id, run } = await erase('carol');
    await run();

    await waitUntil(
      async () => bIndex.nearest(namespace, fakeEmbedding(CAT), { minScore: 0.9 }) === undefined,
      10_000,
      "worker b's index to drop carol's prompt",
    );
    const aIndex = await a.index();
    expect(aIndex.nearest(namespace, fakeEmbedding(CAT), { minScore: 0.9 })).toBeUndefined();
    expect(await verify(id)).toMatchObject({ remaining: [], clean: true });
    // Each worker asked one of her prompts (an answer made now is cached again, so one each).
    for (const [w, prompt, cache] of [
      [a, CAT, undefined],
      [b, DIARY, 'user'],
    ] as const) {
      const outcome = await w.pipeline.generate(resolveRequest(payload('carol', prompt, cache)));
      expect(outcome.layer, prompt).toBeUndefined();
    }
    // Dave's answer is still cached.
    expect((await b.pipeline.generate(resolveRequest(payload('dave', DOG)))).layer).toBe('exact');
  });

  it.each(['caches-purged', 'rows-deleted', 'committed'] as const)(
    'finishes on a rerun after a crash at %s',
    async (step) => {
      const a = worker();
      const user = `erin-${step}`;
      await ask(a, user, `${CAT} (${step})`);
      await seedRest(user);
      const { id, run } = await erase(user, (at) => {
        if (at === step) throw new Error(`crash at ${at}`);
      });
      await expect(run()).rejects.toThrow(`crash at ${step}`);
      const status = (await findErasure(database.db, id))?.status;
      expect(status).toBe(step === 'committed' ? 'hot-done' : 'pending');
      if (step !== 'committed') {
        // The transaction rolled back (or never began): every row is still there to key the rerun.
        expect((await rowsOf(database.db, user)).generations).toHaveLength(1);
      }
      const rerun = await erase(user);
      expect(rerun.id).toBe(id);
      expect((await rerun.run()).status).toBe('hot-done');
      expect(await verify(id)).toMatchObject({ remaining: [], clean: true });
    },
  );

  it('waits for a day the export is writing, and leaves its frozen rows to the cold side', async () => {
    const a = worker();
    const day = utcDay(new Date(), -5);
    const at = new Date(`${day}T10:00:00Z`);
    await ensurePartitions(database.db, { from: at, days: 1 });
    await ask(a, 'frank', DOG.replace('dog', 'cat'), { at });
    await ask(a, 'frank', CAT.replace('cat', 'bird'));
    // The export has claimed the day and is uploading its files.
    await database.db
      .insertInto('export_runs')
      .values({ table_name: 'generations', day, state: 'uploaded' })
      .execute();
    const { id, run } = await erase('frank');

    await expect(run()).rejects.toBeInstanceOf(ExportInProgressError);
    const left = (await rowsOf(database.db, 'frank')).generations as { created_at: Date }[];
    expect(left.map((g) => utcDay(g.created_at))).toEqual([day]);
    expect((await findErasure(database.db, id))?.status).toBe('pending');

    await database.db
      .updateTable('export_runs')
      .set({ state: 'verified' })
      .where('day', '=', day)
      .execute();
    expect((await run()).status).toBe('hot-done');
    const report = await verify(id);
    expect(report.clean).toBe(false);
    expect(report.remaining).toEqual([
      expect.objectContaining({
        place: `generations ${day}`,
        rows: 1,
        note: expect.stringContaining('cold side'),
      }),
    ]);
  });

  it('removes their generate job records and every Redis counter naming them', async () => {
    const a = worker();
    await ask(a, 'hana', CAT);
    await ask(a, 'ivan', DOG);
    const ids = async (user: string) =>
      (
        await database.db
          .selectFrom('generations')
          .select('id')
          .where('user_id', '=', user)
          .execute()
      ).map((g) => g.id);
    // The records BullMQ keeps of their jobs (id = the generation's id), finished as the
    // generate job leaves them: payload and answer.
    const queue = new Queue(generateQueue.queue, { connection: r.redis, prefix: r.prefix });
    try {
      for (const user of ['hana', 'ivan']) {
        for (const id of await ids(user)) {
          const job = await queue.add('generate', payload(user, `${user} prompt`), { jobId: id });
          await r.redis.hset(`${r.prefix}:generate:${job.id}`, 'returnvalue', '"an answer"');
        }
      }
      // Counters as the API and the generate job write them: spend with a budget crossed,
      // and the rate-limit windows.
      const at = new Date();
      for (const user of ['hana', 'ivan']) {
        await addSpend(r.redis, r.prefix, 'UTC', {
          apiKeyId: keyId,
          userId: user,
          usd: 2,
          at,
          budgets: { softUsd: 1 },
        });
        await r.redis.set(userRateLimitKeys.minute(r.prefix, keyId, user), '3', 'EX', 60);
        await r.redis.set(userRateLimitKeys.hour(r.prefix, keyId, user), '3', 'EX', 3600);
        await r.redis.hincrby(
          apiUsageKeys.hour(r.prefix, at),
          apiUsageKeys.field(keyId, user, USER_COUNTED_ROUTE),
          3,
        );
      }
      const hanaJobs = await ids('hana');
      const { id, run } = await erase('hana');
      await run();

      for (const jobId of await ids('ivan')) expect(await queue.getJob(jobId)).toBeDefined();
      expect(await r.redis.exists(`${r.prefix}:generate:${(await ids('ivan'))[0]}`)).toBe(1);
      const spend = (user: string) =>
        r.redis.get(budgetKeys.spend(r.prefix, utcDay(at), keyId, user));
      expect(await spend('hana')).toBeNull();
      expect(await spend('ivan')).not.toBeNull();
      expect(await r.redis.exists(userRateLimitKeys.minute(r.prefix, keyId, 'hana'))).toBe(0);
      expect(await r.redis.exists(userRateLimitKeys.hour(r.prefix, keyId, 'hana'))).toBe(0);
      expect(await r.redis.exists(userRateLimitKeys.minute(r.prefix, keyId, 'ivan'))).toBe(1);
      const hour = await r.redis.hgetall(apiUsageKeys.hour(r.prefix, at));
      expect(Object.keys(hour).filter((f) => f.includes('hana'))).toEqual([]);
      expect(hour[apiUsageKeys.field(keyId, 'ivan', USER_COUNTED_ROUTE)]).toBe('3');
      const crossings = await readBudgetCrossings(r.redis, r.prefix, utcDay(at));
      expect(crossings.map((c) => c.userId)).toEqual(['ivan']);
      const erasure = await findErasure(database.db, id);
      expect(erasure?.counts.hot).toMatchObject({ jobRecords: 1, counters: 5 });
      expect(await verify(id)).toMatchObject({ remaining: [], clean: true });

      // --verify finds what is left behind: a record under her job id, a spend counter.
      await queue.add('generate', payload('hana', 'again'), { jobId: hanaJobs[0] });
      await addSpend(r.redis, r.prefix, 'UTC', { apiKeyId: keyId, userId: 'hana', usd: 1, at });
      expect((await verify(id)).remaining).toEqual([
        { check: 'job records and counters', place: 'generate job records', rows: 1 },
        {
          check: 'job records and counters',
          place: 'spend, rate-limit, API usage and budget counters',
          rows: 1,
        },
      ]);
    } finally {
      await queue.close();
    }
  });

  it('is one erasure when asked twice', async () => {
    const first = await requestErasure(database.db, { userId: 'gina', secretsKey });
    const again = await requestErasure(database.db, { userId: 'gina', secretsKey });
    expect(again).toEqual({ ...first, created: false });
    const widened = await requestErasure(database.db, {
      userId: 'gina',
      deviceIds: ['kiosk'],
      secretsKey,
    });
    expect(widened).toMatchObject({ id: first.id, created: false, widened: true });
    expect((await findErasure(database.db, first.id))?.deviceIds).toEqual(['kiosk']);
  });
});
