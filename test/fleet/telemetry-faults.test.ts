import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log/logger.ts';
import { appendPings, FLUSH_GROUP, telemetryStream } from '../../shared/telemetry/buffer.ts';
import { flushTelemetry } from '../../shared/telemetry/flush.ts';
import type { Ping } from '../../shared/telemetry/ping.ts';
import { testEnv } from '../fixtures/config.ts';
import { useTestDatabase } from '../fixtures/postgres.ts';
import { type SpawnedProcess, spawnNode } from '../fixtures/processes.ts';
import { useRedis } from '../fixtures/redis.ts';
import { startTcpProxy } from '../fixtures/tcp-proxy.ts';
import { bufferedPings, pendingPings } from '../fixtures/telemetry-buffer.ts';
import { waitUntil } from '../fixtures/wait-until.ts';
import { stopWorker } from './worker-fixture.ts';

const log = createLogger({ level: 'silent' });

const ping = (): Ping => ({
  pingId: randomUUID(),
  deviceId: `device-${Math.floor(Math.random() * 50)}`,
  ts: new Date().toISOString(),
  metric: 'temp.c',
  value: Math.random() * 40,
  attrs: { fw: '1.2' },
});

/**
 * `unique` pings as a device fleet sends them, with every fourth one followed by a resend of
 * the ping two before it (a client retry): `unique * 1.25` stream entries.
 */
function withResends(unique: number): { entries: Ping[]; ids: Set<string> } {
  const pings = Array.from({ length: unique }, ping);
  const entries = pings.flatMap((p, i) => (i % 4 === 3 ? [p, pings[i - 2] as Ping] : [p]));
  return { entries, ids: new Set(pings.map((p) => p.pingId)) };
}

describe('telemetry under faults', () => {
  const pg = useTestDatabase();
  const r = useRedis();
  const stream = () => telemetryStream(r.prefix);
  const append = async (entries: Ping[]) => {
    for (let i = 0; i < entries.length; i += 500) {
      await appendPings(r.redis, { prefix: r.prefix, cap: 1e9 }, entries.slice(i, i + 500));
    }
  };
  const stored = async () => {
    const { rows } = await sql<{ n: string; unique: string }>`
      SELECT count(*) AS n, count(DISTINCT ping_id) AS unique FROM telemetry`.execute(pg.db);
    return { rows: Number(rows[0]?.n), unique: Number(rows[0]?.unique) };
  };
  const pending = () => pendingPings(r.redis, r.prefix);
  const buffered = async () => (await bufferedPings(r.redis, r.prefix)).length;

  describe('when the flushing process is killed between the commit and the acknowledgement', () => {
    it('leaves the batch committed and pending, and a rerun stores each ping exactly once', async () => {
      await sql`TRUNCATE telemetry, telemetry_late`.execute(pg.db);
      const { entries, ids } = withResends(1_600);
      expect(entries).toHaveLength(2_000);
      await append(entries);

      const child = spawnNode(
        'flush-then-die',
        'test/fixtures/flush-then-die.ts',
        [],
        testEnv({
          LOG_LEVEL: 'info',
          QUEUE_PREFIX: r.prefix,
          DATABASE_URL: pg.url,
          TELEMETRY_BATCH_SIZE: '1000',
        }),
      );
      const exit = await child.exited;
      expect(exit, child.output()).toEqual({ code: null, signal: 'SIGKILL' });
      // The batch is whole stream entries (500 pings each), so its size is what the child says.
      const committed = Number(/committed (\d+); killing myself/.exec(child.output())?.[1]);
      expect(committed).toBeGreaterThan(0);
      expect(committed).toBeLessThan(2_000);

      // Killed after COMMIT: the first batch is in Postgres, still pending in the group, and
      // nothing was acknowledged or deleted; the rest was never read.
      const firstBatch = new Set(entries.slice(0, committed).map((p) => p.pingId)).size;
      expect(await stored()).toEqual({ rows: firstBatch, unique: firstBatch });
      expect(await pending()).toBe(committed);
      expect(await buffered()).toBe(2_000);

      const rerun = await flushTelemetry({
        redis: r.redis,
        db: pg.db,
        prefix: r.prefix,
        log,
        batchSize: 1_000,
        budgetMs: 30_000,
        consumer: 'survivor',
        reclaimIdleMs: 0,
      });
      expect(rerun).toMatchObject({
        read: 2_000,
        inserted: ids.size - firstBatch,
        duplicates: 2_000 - (ids.size - firstBatch),
        drained: true,
      });
      expect(await stored()).toEqual({ rows: ids.size, unique: ids.size });
      const landed = await pg.db.selectFrom('telemetry').select('ping_id').execute();
      expect(new Set(landed.map((row) => row.ping_id))).toEqual(ids);
      expect(await buffered()).toBe(0);
      expect(await pending()).toBe(0);
    }, 30_000);
  });

  describe('when Postgres is unreachable for several flush periods', () => {
    let proxy: Awaited<ReturnType<typeof startTcpProxy>> | undefined;
    let worker: SpawnedProcess | undefined;
    afterEach(async () => {
      if (worker && worker.child.exitCode === null && worker.child.signalCode === null) {
        await stopWorker(worker, 5_000);
      }
      await proxy?.close();
    });

    it('keeps the worker running and the pings buffered, then lands each exactly once', async () => {
      await sql`TRUNCATE telemetry, telemetry_late`.execute(pg.db);
      const direct = new URL(pg.url);
      proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
      const proxied = new URL(pg.url);
      proxied.hostname = '127.0.0.1';
      proxied.port = String(proxy.port);
      worker = spawnNode(
        'telemetry-worker',
        'test/fixtures/telemetry-worker.ts',
        [],
        testEnv({
          LOG_LEVEL: 'info',
          QUEUE_PREFIX: r.prefix,
          DATABASE_URL: proxied.toString(),
          TELEMETRY_FLUSH_EVERY: '500ms',
          TELEMETRY_FLUSH_BUDGET: '1s',
          SHUTDOWN_GRACE: '5s',
        }),
      );
      await worker.waitFor('"worker ready"', 20_000);

      // While Postgres is reachable pings land, and the pool holds connections for the cut.
      const warmUp = withResends(200);
      await append(warmUp.entries);
      await waitUntil(
        async () => (await stored()).rows === 200 && (await r.redis.xlen(stream())) === 0,
        10_000,
        'warm-up pings flushed',
      );

      await proxy.cut();
      const outputAtCut = worker.output().length;
      const outage = withResends(1_200);
      await append(outage.entries);
      await sleep(4_000);
      // Eight flush periods later: nothing exited, nothing landed, nothing was dropped.
      expect(worker.child.exitCode, worker.output()).toBeNull();
      expect(worker.child.signalCode).toBeNull();
      // …and the flushes did run against the outage (and failed, to be retried).
      expect(worker.output().slice(outputAtCut)).toContain('job attempt failed');
      expect(await stored()).toEqual({ rows: 200, unique: 200 });
      expect(await buffered()).toBe(outage.entries.length);

      await proxy.restore();
      // A few flush periods, not the 30 s after which a crashed consumer's entries are reclaimed.
      await waitUntil(
        async () => (await r.redis.xlen(stream())) === 0,
        8_000,
        'stream drained after Postgres came back',
        {
          explain: async () =>
            `Stream length ${await r.redis.xlen(stream())}, pending ${JSON.stringify(
              await r.redis.xpending(stream(), FLUSH_GROUP),
            )}, rows ${JSON.stringify(await stored())}.`,
        },
      );
      expect(await stored()).toEqual({ rows: 1_400, unique: 1_400 });
      expect(await pending()).toBe(0);

      const exit = await stopWorker(worker);
      expect(exit, worker.output()).toEqual({ code: 0, signal: null });
    }, 45_000);
  });
});
