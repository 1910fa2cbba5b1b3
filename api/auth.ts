import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { ApiScope } from '../shared/db/database.ts';
import { ApiError, unreachableAs } from './api-error.ts';
import { clientIp } from './client-ip.ts';
import type { ApiDeps, ApiEnv, ApiKeyIdentity } from './deps.ts';
import type { RateLimits } from './rate-limits.ts';

const unauthorized = () =>
  new ApiError(401, 'unauthorized', 'send a valid API key as "Authorization: Bearer lb_…"', {
    headers: { 'www-authenticate': 'Bearer' },
  });

/**
 * Authenticates `Authorization: Bearer <key>` and counts the key's request. Failed attempts are
 * limited per client IP, so guessing keys (or flooding the key lookup) ends in 429. Routes for
 * which `countsItself` is true count the key themselves, together with their end user, in the
 * same Redis call.
 */
export function authenticate(
  deps: ApiDeps,
  limits: RateLimits,
  countsItself: (c: Context<ApiEnv>) => boolean = () => false,
): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const ip = clientIp(c);
    c.set('clientIp', ip);
    const header = c.req.header('authorization') ?? '';
    const presented = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    const key = presented
      ? await deps.keys
          .resolve(presented, { beforeLookup: () => limits.assertIpNotBlocked(ip) })
          // Postgres unreachable: 503 like every other store; the IP block's 429 passes through.
          .catch(unreachableAs('the key store'))
      : undefined;
    if (!key) {
      await limits.assertIpNotBlocked(ip);
      await limits.recordAuthFailure(ip);
      throw unauthorized();
    }
    c.set('apiKey', key);
    if (countsItself(c)) {
      // Refused at once (no I/O) while this key is known to be over its limit.
      limits.assertKeyNotBlocked(key.id);
      await next();
      // A request the route refused before counting (bad scope, bad body) still counts.
      if (!c.get('counted')) await limits.consume(key.id, undefined, route(c)).catch(() => {});
      return;
    }
    const headers = await limits.consume(key.id, undefined, route(c));
    await next();
    for (const [name, value] of Object.entries(headers)) {
      if (!c.res.headers.has(name)) c.res.headers.set(name, value);
    }
  };
}

/**
 * The route a request matched, as `METHOD /v1/path/:param` (the usage rollup counts per route,
 * not per URL); `METHOD *` when no route matched (a 404).
 */
export function route(c: Context<ApiEnv>): string {
  // The router matched middleware and handler at once: the last non-middleware entry is the route.
  const handler = matchedRoutes(c).findLast((r) => r.method !== 'ALL');
  return `${c.req.method} ${handler?.path ?? '*'}`;
}

/** Throws 403 unless the key has `scope`. */
export function requireScope(key: ApiKeyIdentity, scope: ApiScope): void {
  if (!key.scopes.includes(scope)) {
    throw new ApiError(403, 'forbidden', `this API key lacks the "${scope}" scope`);
  }
}
