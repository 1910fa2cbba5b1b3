import type { Context, Hono, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { clientIp } from '../api/client-ip.ts';
import { type BoardConfig, LOGIN_FAILURE_WINDOW_MS } from '../shared/config/board-config.ts';
import { type RedisClient, whenReady } from '../shared/redis/connections.ts';
import { localPath, loginPage } from './board-login-page.ts';
import {
  type BoardEnv,
  type BoardRole,
  basicCredentials,
  endSession,
  roleOf,
  sessionKey,
  sessionRole,
  startSession,
} from './board-session.ts';

const READY_WAIT_MS = 1_500;
const READING_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Redis did not answer the login limiter: no sign-in is checked without it. */
class LimiterUnavailable extends Error {
  override name = 'LimiterUnavailable';
}

/**
 * Failed sign-ins per client IP, in Redis under the queue prefix (so every board replica
 * counts together). A success does not reset the count: knowing the viewer's password must not
 * buy more guesses at the operator's.
 */
export class LoginLimiter {
  readonly #limiter: RateLimiterRedis;
  readonly #points: number;
  readonly #redis: RedisClient;

  constructor(options: { redis: RedisClient; prefix: string; failuresPerIp: number }) {
    this.#points = options.failuresPerIp;
    this.#redis = options.redis;
    this.#limiter = new RateLimiterRedis({
      storeClient: options.redis,
      keyPrefix: `${options.prefix}:board:login-fail`,
      points: options.failuresPerIp,
      duration: LOGIN_FAILURE_WINDOW_MS / 1000,
      rejectIfRedisNotReady: true,
    });
  }

  /** Seconds until `ip` may try again, or 0 when it may try now. */
  async blockedFor(ip: string): Promise<number> {
    await whenReady(this.#redis, READY_WAIT_MS);
    const res = await this.#limiter.get(ip).catch(unavailable);
    if (!res || res.consumedPoints < this.#points) return 0;
    return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
  }

  async recordFailure(ip: string): Promise<void> {
    await this.#limiter.penalty(ip, 1).catch(unavailable);
  }
}

// rate-limiter-flexible rejects with an Error (not a RateLimiterRes) when Redis is not ready.
function unavailable(error: unknown): never {
  if (error instanceof RateLimiterRes) throw error;
  throw new LimiterUnavailable('the login limiter cannot reach Redis');
}

type Checked = { role: BoardRole } | { retryAfter: number } | { wrong: true };

/** Checks a user name and password under the per-IP limit, counting a failure. */
async function checkLogin(
  c: Context,
  board: BoardConfig,
  limiter: LoginLimiter,
  [username, password]: [string, string],
): Promise<Checked> {
  const ip = clientIp(c);
  const retryAfter = await limiter.blockedFor(ip);
  if (retryAfter > 0) return { retryAfter };
  const role = roleOf(board, username, password);
  if (role) return { role };
  await limiter.recordFailure(ip);
  return { wrong: true };
}

function tooMany(retryAfter: number): string {
  const minutes = Math.ceil(retryAfter / 60);
  return `Too many failed sign-ins from your address; try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`;
}

/** `GET/POST /login` and `GET /logout`. */
export function mountLogin(
  app: Hono<BoardEnv>,
  options: { board: BoardConfig; limiter: LoginLimiter; home: string },
): void {
  const { board, limiter, home } = options;
  const key = sessionKey(board);
  app.get('/login', (c) => c.html(loginPage({ next: localPath(c.req.query('next'), home) })));
  // A user name and a password: anything larger is not a sign-in.
  app.post('/login', bodyLimit({ maxSize: 16 * 1024 }), async (c) => {
    const form = await c.req.parseBody();
    const field = (name: string) => (typeof form[name] === 'string' ? form[name] : '');
    const next = localPath(field('next'), home);
    let checked: Checked;
    try {
      checked = await checkLogin(c, board, limiter, [field('username'), field('password')]);
    } catch (error) {
      if (!(error instanceof LimiterUnavailable)) throw error;
      return c.html(loginPage({ next, error: 'Sign-in is unavailable: Redis is down.' }), 503);
    }
    if ('retryAfter' in checked) {
      c.header('Retry-After', String(checked.retryAfter));
      return c.html(loginPage({ next, error: tooMany(checked.retryAfter) }), 429);
    }
    if ('wrong' in checked) {
      return c.html(loginPage({ next, error: 'Wrong user name or password.' }), 401);
    }
    await startSession(c, board, key, checked.role);
    return c.redirect(next, 303);
  });
  app.get('/logout', (c) => {
    endSession(c);
    return c.redirect('/login', 303);
  });
}

/**
 * Everything mounted after this needs a session (or, for scripts, `Authorization: Basic`, never
 * challenged for, so a browser never caches it and sends it cross-site). A page request without
 * one is sent to the login page; anything else gets 401. Sets `c.get('role')`.
 */
export function requireSignIn(options: {
  board: BoardConfig;
  limiter: LoginLimiter;
}): MiddlewareHandler<BoardEnv> {
  const { board, limiter } = options;
  const key = sessionKey(board);
  return async (c, next) => {
    const session = await sessionRole(c, key);
    if (session) {
      c.set('role', session);
      return next();
    }
    const credentials = basicCredentials(c.req.header('authorization'));
    if (!credentials) return signInFirst(c);
    let checked: Checked;
    try {
      checked = await checkLogin(c, board, limiter, credentials);
    } catch (error) {
      if (!(error instanceof LimiterUnavailable)) throw error;
      return c.json({ error: 'sign-in is unavailable: the board cannot reach Redis' }, 503);
    }
    if ('retryAfter' in checked) {
      c.header('Retry-After', String(checked.retryAfter));
      return c.json({ error: tooMany(checked.retryAfter) }, 429);
    }
    if ('wrong' in checked) return c.json({ error: 'wrong user name or password' }, 401);
    c.set('role', checked.role);
    return next();
  };
}

function signInFirst(c: Context<BoardEnv>): Response {
  const { pathname, search } = new URL(c.req.url);
  const isPage =
    (c.req.method === 'GET' || c.req.method === 'HEAD') &&
    (c.req.header('accept') ?? '').includes('text/html') &&
    !pathname.includes('/api/');
  if (isPage) return c.redirect(`/login?next=${encodeURIComponent(`${pathname}${search}`)}`, 302);
  return c.json({ error: 'sign in first: POST /login, or send HTTP basic auth' }, 401);
}

/** Viewers only read: any other method, on any route mounted after this, is 403. */
export function viewersOnlyRead(): MiddlewareHandler<BoardEnv> {
  return async (c, next) => {
    if (c.get('role') === 'viewer' && !READING_METHODS.has(c.req.method)) {
      return c.json({ error: 'the viewer login is read-only' }, 403);
    }
    return next();
  };
}
