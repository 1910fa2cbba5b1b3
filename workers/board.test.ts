import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../shared/log/logger.ts';
import { Queues } from '../shared/queue/queues.ts';
import { basic, OPERATOR, session, useBoard, VIEWER } from '../test/fixtures/board.ts';
import { testConfig } from '../test/fixtures/config.ts';
import { echo, testJobs } from '../test/fixtures/test-jobs.ts';
import { BOARD_PATH, createBoardApp, startBoard } from './board.ts';

const log = createLogger({ level: 'silent' });
const html = { accept: 'text/html,application/xhtml+xml' };

describe('the board', () => {
  const { r, pg, board } = useBoard();
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  it('sends a visitor to the login page and answers API calls without a session 401', async () => {
    const { url } = await board();
    const page = await fetch(`${url}${BOARD_PATH}/queue/echo?status=failed`, {
      headers: html,
      redirect: 'manual',
    });
    expect(page.status).toBe(302);
    expect(page.headers.get('location')).toBe(
      `/login?next=${encodeURIComponent('/queues/queue/echo?status=failed')}`,
    );
    const api = await fetch(`${url}${BOARD_PATH}/api/queues`, { headers: html });
    expect(api.status).toBe(401);
    // No challenge: a browser never caches basic credentials it would send cross-site.
    expect(api.headers.get('www-authenticate')).toBeNull();
    expect(
      (await fetch(`${url}${BOARD_PATH}/api/queues/echo/pause`, { method: 'PUT' })).status,
    ).toBe(401);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const form = await fetch(`${url}/login`);
    expect(await form.text()).toContain('<form method="post" action="/login">');
  });

  it('gives the viewer a read-only board and refuses every write with 403', async () => {
    const { url } = await board();
    const viewer = { cookie: await session(url, VIEWER) };
    const page = await fetch(`${url}${BOARD_PATH}`, { headers: viewer });
    expect(await page.text()).toContain('<title>lowburn (read-only)</title>');
    const api = await fetch(`${url}${BOARD_PATH}/api/queues`, { headers: viewer });
    const body = (await api.json()) as { queues: { name: string; readOnlyMode: boolean }[] };
    expect(body.queues).toHaveLength(4);
    expect(body.queues.every((q) => q.readOnlyMode)).toBe(true);
    const queue = new Queues({ connection: r.redis, prefix: r.prefix }).get(echo);
    for (const [method, path] of [
      ['PUT', '/api/queues/echo/pause'],
      ['PUT', '/api/queues/pause'],
      ['PUT', '/api/queues/echo/clean/completed'],
      ['POST', '/api/queues/echo/add'],
      ['PATCH', '/api/queues/echo/1/update-data'],
    ] as const) {
      const res = await fetch(`${url}${BOARD_PATH}${path}`, { method, headers: viewer });
      expect(res.status, `${method} ${path}`).toBe(403);
    }
    const scripted = await fetch(`${url}${BOARD_PATH}/api/queues/echo/pause`, {
      method: 'PUT',
      headers: { authorization: basic(...VIEWER) },
    });
    expect(scripted.status).toBe(403);
    expect(await queue.isPaused()).toBe(false);

    const operator = { cookie: await session(url, OPERATOR) };
    const paused = await fetch(`${url}${BOARD_PATH}/api/queues/echo/pause`, {
      method: 'PUT',
      headers: operator,
    });
    expect(paused.status).toBe(200);
    expect(await queue.isPaused()).toBe(true);
    await queue.close();
  });

  it('sets the security headers on every response, errors and Bull Board’s assets too', async () => {
    const { url } = await board();
    const cookie = await session(url, OPERATOR);
    const page = await (await fetch(`${url}${BOARD_PATH}`, { headers: { cookie } })).text();
    const script = /src="(static\/js\/main\.[^"]+\.js)"/.exec(page)?.[1];
    expect(script).toBeDefined();
    const requests: [string, RequestInit, number][] = [
      ['/healthz', {}, 200],
      ['/login', {}, 200],
      ['/login', { method: 'POST', body: new URLSearchParams({ username: 'x' }) }, 401],
      [BOARD_PATH, { headers: html, redirect: 'manual' }, 302],
      [`${BOARD_PATH}/api/queues`, {}, 401],
      [BOARD_PATH, { headers: { cookie } }, 200],
      [`${BOARD_PATH}/${script}`, { headers: { cookie } }, 200],
      [`${BOARD_PATH}/api/queues`, { headers: { cookie } }, 200],
      [`${BOARD_PATH}/api/queues/nope/1`, { headers: { cookie } }, 404],
      ['/nowhere', { headers: { cookie } }, 404],
    ];
    for (const [path, init, status] of requests) {
      const res = await fetch(`${url}${path}`, init);
      const what = `${init.method ?? 'GET'} ${path}`;
      expect(res.status, what).toBe(status);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, what).toContain("script-src 'self';");
      expect(csp, what).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-frame-options'), what).toBe('DENY');
      expect(res.headers.get('x-content-type-options'), what).toBe('nosniff');
      expect(res.headers.get('referrer-policy'), what).toBe('same-origin');
    }
  });

  it('lets everyone in as the operator when no password is set (development only)', async () => {
    const config = testConfig({ QUEUE_PREFIX: r.prefix });
    const started = await startBoard({ config, catalog: testJobs, log, port: 0 });
    stop = started.stop;
    const url = `http://127.0.0.1:${started.port}`;
    const api = await fetch(`${url}${BOARD_PATH}/api/queues`);
    const body = (await api.json()) as { queues: { readOnlyMode: boolean }[] };
    expect(body.queues.every((q) => q.readOnlyMode === false)).toBe(true);
    const login = await fetch(`${url}/login`, { redirect: 'manual' });
    expect(login.headers.get('location')).toBe(BOARD_PATH);
  });

  it('shows queues without controls to the operator too in read-only mode', async () => {
    const { url } = await board({ BOARD_READ_ONLY: 'true' });
    const api = await fetch(`${url}${BOARD_PATH}/api/queues`, {
      headers: { cookie: await session(url, OPERATOR) },
    });
    const body = (await api.json()) as { queues: { readOnlyMode: boolean }[] };
    expect(body.queues.every((q) => q.readOnlyMode)).toBe(true);
  });

  it('puts routes mounted after it behind the sign-in, with the role', async () => {
    const config = testConfig({
      QUEUE_PREFIX: r.prefix,
      BOARD_PASSWORD: OPERATOR[1],
      BOARD_VIEWER_PASSWORD: VIEWER[1],
    });
    const redis = new Redis(r.url);
    const queues = new Queues({ connection: r.redis, prefix: r.prefix });
    const app = createBoardApp({ config, catalog: testJobs, queues, redis, db: pg.db, log });
    app.get('/after', (c) => c.text(c.get('role')));
    try {
      expect((await app.request('/after')).status).toBe(401);
      const as = (who: readonly [string, string]) =>
        app.request('/after', { headers: { authorization: basic(...who) } });
      expect(await (await as(OPERATOR)).text()).toBe('operator');
      expect(await (await as(VIEWER)).text()).toBe('viewer');
    } finally {
      await queues.close();
      await redis.quit();
    }
  });
});
