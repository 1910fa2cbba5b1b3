/**
 * The `code` of an error: a Postgres error's SQLSTATE (pg's, or `PgEncodingError`'s), else
 * `undefined`. Socket errors carry codes too (`ECONNRESET`), which match no SQLSTATE class.
 */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
