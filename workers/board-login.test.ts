import { serializeSigned } from 'hono/utils/cookie';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../shared/log/logger.ts';
import { Queues } from '../shared/queue/queues.ts';
import { createProducerConnection } from '../shared/redis/connections.ts';
import { basic, login, OPERATOR, session, useBoard, VIEWER } from '../test/fixtures/board.ts';
import { testConfig } from '../test/fixtures/config.ts';
import { testJobs } from '../test/fixtures/test-jobs.ts';
import { BOARD_PATH, createBoardApp } from './board.ts';
import { SESSION_COOKIE, sessionKey } from './board-session.ts';

const log = createLogger({ level: 'silent' });

describe('signing in to the board', () => {
  const { r, pg, board } = useBoard();

  it('signs the operator in with a signed, HttpOnly, SameSite=Strict cookie that expires', async () => {
    const { url } = await board({ BOARD_SESSION_TTL: '2h' });
    const res = await login(url, OPERATOR, '/queues/queue/echo');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/queues/queue/echo');
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(new RegExp(`^${SESSION_COOKIE}=operator%3A\\d+\\.`));
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect(cookie).toContain('Path=/');
    const expires = Date.parse(/Expires=([^;]+)/.exec(cookie)?.[1] ?? '');
    expect(Math.abs(expires - (Date.now() + 2 * 3_600_000))).toBeLessThan(60_000);

    const headers = { cookie: cookie.split(';')[0] ?? '' };
    const page = await fetch(`${url}${BOARD_PATH}`, { headers });
    expect(await page.text()).toContain('<title>lowburn</title>');
    const api = await fetch(`${url}${BOARD_PATH}/api/queues`, { headers });
    const body = (await api.json()) as { queues: { name: string; readOnlyMode: boolean }[] };
    expect(body.queues.map((q) => q.name).sort()).toEqual(['echo', 'hang', 'slow', 'tick']);
    expect(body.queues.every((q) => q.readOnlyMode === false)).toBe(true);

    const out = await fetch(`${url}/logout`, { headers, redirect: 'manual' });
    expect(out.headers.get('set-cookie')).toMatch(new RegExp(`^${SESSION_COOKIE}=;`));
  });

  it('refuses a cookie that is tampered with, signed with another key or expired', async () => {
    const { url, config } = await board();
    const good = await session(url, VIEWER);
    const tampered = good.replace('viewer', 'operator');
    const key = sessionKey(config.board);
    const forged = async (value: string, secret: string) =>
      (await serializeSigned(SESSION_COOKIE, value, secret)).split(';')[0] ?? '';
    for (const cookie of [
      tampered,
      await forged(`operator:${Date.now() + 60_000}`, 'not-the-board-key'),
      await forged(`operator:${Date.now() - 1_000}`, key),
    ]) {
      const res = await fetch(`${url}${BOARD_PATH}/api/queues`, { headers: { cookie } });
      expect(res.status).toBe(401);
    }
    const valid = await forged(`operator:${Date.now() + 60_000}`, key);
    expect(
      (await fetch(`${url}${BOARD_PATH}/api/queues`, { headers: { cookie: valid } })).status,
    ).toBe(200);
  });

  it('returns only to local paths after signing in', async () => {
    const { url } = await board();
    for (const [next, location] of [
      ['//evil.example/x', '/queues'],
      ['https://evil.example/', '/queues'],
      ['/\\evil.example', '/queues'],
      ['/queues/queue/slow?status=failed', '/queues/queue/slow?status=failed'],
    ]) {
      const res = await login(url, OPERATOR, next);
      expect(res.headers.get('location'), next).toBe(location);
    }
  });

  it('counts failed sign-ins per IP in Redis and answers 429 with Retry-After past the limit', async () => {
    const { url } = await board({ BOARD_LOGIN_FAILURES_PER_IP: '3' });
    for (let i = 0; i < 3; i++) {
      const wrong = await login(url, ['admin', 'not-the-password']);
      expect(wrong.status).toBe(401);
      expect(await wrong.text()).toContain('Wrong user name or password.');
    }
    const keys = await r.redis.keys(`${r.prefix}:board:login-fail*`);
    expect(keys).toHaveLength(1);
    expect(Number(await r.redis.get(keys[0] ?? ''))).toBe(3);
    // Past the limit even the right password waits, and so does basic auth.
    const blocked = await login(url, OPERATOR);
    expect(blocked.status).toBe(429);
    const retryAfter = Number(blocked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(800);
    expect(retryAfter).toBeLessThanOrEqual(900);
    expect(await blocked.text()).toContain('Too many failed sign-ins');
    const script = await fetch(`${url}${BOARD_PATH}/api/queues`, {
      headers: { authorization: basic(...OPERATOR) },
    });
    expect(script.status).toBe(429);
    // Another client (its address as the proxy appends it) is not affected.
    const other = await fetch(`${url}/login`, {
      method: 'POST',
      body: new URLSearchParams({ username: OPERATOR[0], password: OPERATOR[1] }),
      headers: { 'x-forwarded-for': '203.0.113.7' },
      redirect: 'manual',
    });
    expect(other.status).toBe(303);
  });

  it('accepts basic auth from scripts, and counts its failures', async () => {
    const { url } = await board({ BOARD_LOGIN_FAILURES_PER_IP: '5' });
    const ok = await fetch(`${url}${BOARD_PATH}/api/queues`, {
      headers: { authorization: basic(...OPERATOR) },
    });
    expect(ok.status).toBe(200);
    const wrong = await fetch(`${url}${BOARD_PATH}/api/queues`, {
      headers: { authorization: basic('admin', 'nope') },
    });
    expect(wrong.status).toBe(401);
    const keys = await r.redis.keys(`${r.prefix}:board:login-fail*`);
    expect(await r.redis.get(keys[0] ?? '')).toBe('1');
  });

  it('refuses sign-ins with 503 while Redis does not answer, and oversized forms with 413', async () => {
    const config = testConfig({ QUEUE_PREFIX: r.prefix, BOARD_PASSWORD: OPERATOR[1] });
    // Nothing listens on port 1: the limiter cannot count, so no password is checked.
    const redis = createProducerConnection('redis://127.0.0.1:1');
    redis.on('error', () => {});
    const queues = new Queues({ connection: r.redis, prefix: r.prefix });
    const app = createBoardApp({ config, catalog: testJobs, queues, redis, db: pg.db, log });
    try {
      const form = new URLSearchParams({ username: OPERATOR[0], password: OPERATOR[1] });
      const res = await app.request('/login', { method: 'POST', body: form });
      expect(res.status).toBe(503);
      expect(await res.text()).toContain('Sign-in is unavailable: Redis is down.');
      expect(res.headers.get('set-cookie')).toBeNull();
      const script = await app.request(`${BOARD_PATH}/api/queues`, {
        headers: { authorization: basic(...OPERATOR) },
      });
      expect(script.status).toBe(503);
      const huge = new URLSearchParams({ username: 'admin', password: 'x'.repeat(20_000) });
      expect((await app.request('/login', { method: 'POST', body: huge })).status).toBe(413);
    } finally {
      await queues.close();
      redis.disconnect();
    }
  });
});
