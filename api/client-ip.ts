import type { Context } from 'hono';

/**
 * The caller's address for per-IP limits: the last `X-Forwarded-For` hop (the one our own
 * proxy — Coolify's Traefik, a serverless platform — appended), else the socket's address.
 */
export function clientIp(c: Context): string {
  const forwarded = c.req.header('x-forwarded-for');
  if (forwarded) {
    const hops = forwarded
      .split(',')
      .map((h) => h.trim())
      .filter(Boolean);
    const last = hops.at(-1);
    if (last) return last;
  }
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'unknown';
}
