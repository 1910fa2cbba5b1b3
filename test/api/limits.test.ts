import { once } from 'node:events';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { startTestApi, type TestApi } from '../fixtures/api-server.ts';
import { useTestDatabase } from '../fixtures/postgres.ts';
import { startTcpProxy } from '../fixtures/tcp-proxy.ts';

const body = (userId: string) => ({ userId, taskType: 'qa', prompt: 'Why is the sky blue?' });

describe('rate limits, revocation and outages', () => {
  const database = useTestDatabase();
  const stops: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });
  async function api(env: Record<string, string>): Promise<TestApi> {
    const started = await startTestApi(database, env);
    stops.push(() => started.stop());
    return started;
  }

  it('takes a client that hangs up in the middle of its body as no error of the server', async () => {
    const lines: { level: number; msg: string; err?: { message: string } }[] = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const started = await startTestApi(database, {}, { log });
    stops.push(() => started.stop());
    const { key } = await started.key(['telemetry']);
    const { port } = new URL(started.url);
    for (let i = 0; i < 3; i++) {
      const socket = connect(Number(port), '127.0.0.1');
      await once(socket, 'connect');
      socket.write(
        `POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n[{"pingId":`,
      );
      await sleep(50);
      socket.destroy();
    }
    await sleep(300);
    // pino's error level is 50.
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
    expect((await started.request('/healthz')).status).toBe(200);
  });

  it('limits a key per second with 429, Retry-After and RateLimit headers, then recovers', async () => {
    const t = await api({ RATE_LIMIT_PER_KEY: '5' });
    const { key } = await t.key(['generate']);
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < 8; i++) {
      const res = await t.request('/v1/generations', { key, json: body(`u${i}`) });
      statuses.push(res.status);
      if (res.status === 429) limited = res;
    }
    expect(statuses.filter((s) => s === 202).length).toBeLessThanOrEqual(5);
    expect(limited?.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(limited?.headers.get('ratelimit-limit')).toBe('5');
    expect(limited?.headers.get('ratelimit-remaining')).toBe('0');
    expect(await limited?.json()).toMatchObject({ error: { code: 'rate_limited' } });
    await sleep(1_100);
    expect((await t.request('/v1/generations', { key, json: body('later') })).status).toBe(202);
  });

  it('counts refused generations against the key too, then refuses the key at once', async () => {
    const t = await api({ RATE_LIMIT_PER_KEY: '3' });
    const { key } = await t.key(['generate']);
    const statuses = [];
    for (let i = 0; i < 6; i++) {
      statuses.push((await t.request('/v1/generations', { key, json: { userId: 'u' } })).status);
    }
    expect(statuses.slice(0, 3)).toEqual([422, 422, 422]);
    expect(statuses.slice(4)).toEqual([429, 429]);
  });

  it('counts every route against the key, not only generations', async () => {
    const t = await api({ RATE_LIMIT_PER_KEY: '3' });
    const { key } = await t.key(['read']);
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await t.request('/v1/jobs/nope', { key })).status);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(1);
    expect(statuses.filter((s) => s === 404).length).toBeLessThanOrEqual(3);
  });

  it('limits an end user per minute, and lowers the limit for heavy users', async () => {
    const t = await api({ RATE_LIMIT_PER_USER: '4', RATE_LIMIT_USER_TIERS: '2:3' });
    const { key } = await t.key(['generate']);
    const send = (user: string) => t.request('/v1/generations', { key, json: body(user) });
    // After 2 requests this hour the tier's 3/minute applies: the 4th request is refused.
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await send('heavy')).status);
    expect(statuses).toEqual([202, 202, 202, 429]);
    const res = await send('heavy');
    expect(await res.json()).toMatchObject({
      error: {
        code: 'rate_limited',
        message: expect.stringContaining('user "heavy" may send 3 requests per minute'),
      },
    });
    expect((await send('someone-else')).status).toBe(202);
  });

  it('refuses a revoked key within the cache TTL', async () => {
    const t = await api({ API_KEY_CACHE_TTL: '300ms' });
    const { id, key } = await t.key(['generate', 'read']);
    expect((await t.request('/v1/generations', { key, json: body('u') })).status).toBe(202);
    await sql`UPDATE api_keys SET revoked_at = now() WHERE id = ${id}`.execute(database.db);
    await sleep(400);
    expect((await t.request('/v1/generations', { key, json: body('u') })).status).toBe(401);
  });

  it('limits failed authentications per client IP', async () => {
    const t = await api({ AUTH_FAILURES_PER_IP: '3' });
    const statuses = [];
    for (let i = 0; i < 5; i++) {
      const res = await t.request('/v1/jobs/x', {
        key: `lb_AAAAAAAA_${'x'.repeat(32)}${i}`,
        headers: { 'x-forwarded-for': '203.0.113.9' },
      });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    const elsewhere = await t.request('/v1/jobs/x', {
      key: 'lb_wrong',
      headers: { 'x-forwarded-for': '203.0.113.10' },
    });
    expect(elsewhere.status).toBe(401);
  });

  it('runs a scheduled pipeline now for an admin key, and lists the valid names otherwise', async () => {
    const t = await api({});
    const admin = await t.key(['admin']);
    const reader = await t.key(['read']);
    const run = await t.request('/v1/pipelines/maintain-partitions/runs', {
      key: admin.key,
      json: { payload: { days: 2 } },
    });
    expect(run.status).toBe(202);
    const { id } = (await run.json()) as { id: string };
    expect(await (await t.request(`/v1/jobs/${id}`, { key: admin.key })).json()).toMatchObject({
      queue: 'maintain-partitions',
      status: 'queued',
    });
    const empty = await t.request('/v1/pipelines/maintain-partitions/runs', {
      key: admin.key,
      method: 'POST',
    });
    expect(empty.status).toBe(202);
    const unknown = await t.request('/v1/pipelines/nope/runs', { key: admin.key, json: {} });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({
      error: {
        message:
          'no pipeline "nope"; pipelines: maintain-partitions, flush-telemetry, export-cold, dispatch-webhooks, prune-ledgers, precompute-cache, rollup-usage, export-finetune, check-alerts, send-digest, apply-erasures',
      },
    });
    const bad = await t.request('/v1/pipelines/maintain-partitions/runs', {
      key: admin.key,
      json: { payload: { days: 0 } },
    });
    expect(bad.status).toBe(422);
    expect(await bad.json()).toMatchObject({ error: { field: 'payload.days' } });
    expect(
      (await t.request('/v1/pipelines/maintain-partitions/runs', { key: reader.key, json: {} }))
        .status,
    ).toBe(403);
  });

  it('keeps queueing work for a known key while Postgres is unreachable, past the key cache TTL', async () => {
    const pgUrl = new URL(database.url);
    const proxy = await startTcpProxy({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) });
    stops.push(() => proxy.close());
    const viaProxy = new URL(database.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    const t = await api({
      DATABASE_URL: viaProxy.toString(),
      API_KEY_CACHE_TTL: '1s',
      API_KEY_STALE_IF_ERROR: '1m',
    });
    const known = await t.key(['generate']);
    const stranger = await t.key(['generate']);
    expect((await t.request('/v1/generations', { key: known.key, json: body('u') })).status).toBe(
      202,
    );

    await proxy.cut();
    await sleep(1_200); // past the TTL: this lookup would go to Postgres
    const during = await t.request('/v1/generations', { key: known.key, json: body('u') });
    expect(during.status).toBe(202);
    // A key the API has not seen yet cannot be checked: 503, nothing queued.
    const unseen = await t.request('/v1/generations', { key: stranger.key, json: body('u') });
    expect(unseen.status).toBe(503);
    expect(await unseen.json()).toMatchObject({ error: { code: 'unavailable' } });
    await proxy.restore();
  });

  it('answers 503 with Retry-After within 2 s while Redis is unreachable, and recovers', async () => {
    const redisUrl = new URL(inject('redisUrl'));
    const proxy = await startTcpProxy({
      host: redisUrl.hostname,
      port: Number(redisUrl.port || 6379),
    });
    stops.push(() => proxy.close());
    const t = await api({ REDIS_URL: `redis://127.0.0.1:${proxy.port}` });
    const { key } = await t.key(['generate', 'read']);
    expect((await t.request('/v1/generations', { key, json: body('u') })).status).toBe(202);

    await proxy.cut();
    for (const path of ['/v1/generations', '/readyz']) {
      const started = Date.now();
      const res = await t.request(path, path === '/readyz' ? {} : { key, json: body('u') });
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('2');
    }
    await proxy.restore();
    await expect
      .poll(async () => (await t.request('/v1/generations', { key, json: body('u') })).status, {
        timeout: 10_000,
        interval: 250,
      })
      .toBe(202);
  });
});
