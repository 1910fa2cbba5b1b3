import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, getSignedCookie, setSignedCookie } from 'hono/cookie';
import type { BoardConfig } from '../shared/config/board-config.ts';

/** Who is signed in to the board: the operator controls the queues, the viewer only looks. */
export type BoardRole = 'operator' | 'viewer';

/** The board app's context: `c.get('role')` in every handler behind the sign-in. */
export interface BoardEnv {
  Variables: { role: BoardRole };
}

export const SESSION_COOKIE = 'lowburn_board_session';

/** Compares two strings in time that does not depend on where they differ (nor on their lengths). */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/**
 * The role whose user name and password these are, if any. Both logins are always compared, so
 * the answer takes as long whichever (if either) matches.
 */
export function roleOf(board: BoardConfig, username: string, password: string): BoardRole | null {
  const checks = {
    operatorUser: sameSecret(username, board.username),
    operatorPassword: sameSecret(password, board.password ?? ''),
    viewerUser: sameSecret(username, board.viewerUsername),
    viewerPassword: sameSecret(password, board.viewerPassword ?? ''),
  };
  if (board.password !== undefined && checks.operatorUser && checks.operatorPassword) {
    return 'operator';
  }
  if (board.viewerPassword !== undefined && checks.viewerUser && checks.viewerPassword) {
    return 'viewer';
  }
  return null;
}

/** The user name and password of an `Authorization: Basic` header (scripts), if it has one. */
export function basicCredentials(header: string | undefined): [string, string] | null {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!match?.[1]) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return [decoded.slice(0, colon), decoded.slice(colon + 1)];
}

/**
 * The key the session cookies are signed with: `BOARD_SESSION_SECRET`, else one derived from
 * both logins, so changing either password ends every session.
 */
export function sessionKey(board: BoardConfig): string {
  if (board.sessionSecret) return board.sessionSecret;
  return createHmac('sha256', 'lowburn board session v1')
    .update(
      [board.username, board.password ?? '', board.viewerUsername, board.viewerPassword ?? ''].join(
        '\0',
      ),
    )
    .digest('base64url');
}

/** Behind a proxy that terminates TLS the request itself is plain HTTP. */
function isHttps(c: Context): boolean {
  return c.req.header('x-forwarded-proto') === 'https' || new URL(c.req.url).protocol === 'https:';
}

/** Signs `role` in: a signed, HttpOnly, SameSite=Strict cookie that expires after the TTL. */
export async function startSession(
  c: Context,
  board: BoardConfig,
  key: string,
  role: BoardRole,
): Promise<void> {
  const expiresAt = Date.now() + board.sessionTtlMs;
  await setSignedCookie(c, SESSION_COOKIE, `${role}:${expiresAt}`, key, {
    path: '/',
    httpOnly: true,
    sameSite: 'Strict',
    secure: isHttps(c),
    expires: new Date(expiresAt),
  });
}

/**
 * The role of the request's session cookie, if it carries a valid, unexpired one. The expiry is
 * inside the signed value: a client that keeps the cookie past its `Expires` gains nothing.
 */
export async function sessionRole(c: Context, key: string): Promise<BoardRole | null> {
  const value = await getSignedCookie(c, key, SESSION_COOKIE);
  if (!value) return null;
  const [role, expiresAt] = value.split(':');
  if (role !== 'operator' && role !== 'viewer') return null;
  if (!(Number(expiresAt) > Date.now())) return null;
  return role;
}

export function endSession(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, { path: '/', secure: isHttps(c) });
}
