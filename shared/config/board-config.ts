import type { ConfigIssue } from '../errors/config-error.ts';

/** The board process (`lowburn board`): Bull Board behind an operator and a viewer login. */
export interface BoardConfig {
  port: number;
  /** The operator: full control of the queues. No password: no sign-in at all (not in production). */
  username: string;
  password: string | undefined;
  /** The read-only viewer; no password: no viewer login. */
  viewerUsername: string;
  viewerPassword: string | undefined;
  /** Signs the session cookies; unset: derived from the passwords. */
  sessionSecret: string | undefined;
  sessionTtlMs: number;
  /** Failed sign-ins one client IP may make per {@link LOGIN_FAILURE_WINDOW_MS}. */
  loginFailuresPerIp: number;
  /** Everyone read-only, the operator too. */
  readOnly: boolean;
}

/** The window failed board sign-ins are counted in. */
export const LOGIN_FAILURE_WINDOW_MS = 15 * 60_000;

/** The board section of the config; reports a viewer login that cannot work as it stands. */
export function boardConfig(
  raw: {
    BOARD_PORT: number;
    BOARD_USERNAME: string;
    BOARD_PASSWORD?: string | undefined;
    BOARD_VIEWER_USERNAME: string;
    BOARD_VIEWER_PASSWORD?: string | undefined;
    BOARD_SESSION_SECRET?: string | undefined;
    BOARD_SESSION_TTL: number;
    BOARD_LOGIN_FAILURES_PER_IP: number;
    BOARD_READ_ONLY: boolean;
  },
  issues: ConfigIssue[],
): BoardConfig {
  if (raw.BOARD_VIEWER_PASSWORD !== undefined) {
    if (raw.BOARD_PASSWORD === undefined) {
      issues.push({
        variable: 'BOARD_PASSWORD',
        problem:
          'is required when BOARD_VIEWER_PASSWORD is set (without it the board has no sign-in and everyone is an operator)',
        example: 'a-long-random-password',
      });
    } else if (raw.BOARD_VIEWER_PASSWORD === raw.BOARD_PASSWORD) {
      issues.push({
        variable: 'BOARD_VIEWER_PASSWORD',
        problem: 'must differ from BOARD_PASSWORD (the viewer would hold the operator’s password)',
        example: 'another-long-random-password',
      });
    }
    if (raw.BOARD_VIEWER_USERNAME === raw.BOARD_USERNAME) {
      issues.push({
        variable: 'BOARD_VIEWER_USERNAME',
        problem: `must differ from BOARD_USERNAME ("${raw.BOARD_USERNAME}")`,
        example: 'viewer',
      });
    }
  }
  return {
    port: raw.BOARD_PORT,
    username: raw.BOARD_USERNAME,
    password: raw.BOARD_PASSWORD,
    viewerUsername: raw.BOARD_VIEWER_USERNAME,
    viewerPassword: raw.BOARD_VIEWER_PASSWORD,
    sessionSecret: raw.BOARD_SESSION_SECRET,
    sessionTtlMs: raw.BOARD_SESSION_TTL,
    loginFailuresPerIp: raw.BOARD_LOGIN_FAILURES_PER_IP,
    readOnly: raw.BOARD_READ_ONLY,
  };
}
