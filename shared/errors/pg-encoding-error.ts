/**
 * A value a binary Postgres encoder refuses (`shared/db/pg-binary.ts`); `code` is the SQLSTATE
 * Postgres would raise for it as text, so callers treat both alike (class 22: bad data).
 */
export class PgEncodingError extends Error {
  readonly code: '22P02' | '22007';

  constructor(message: string, code: '22P02' | '22007') {
    super(message);
    this.name = 'PgEncodingError';
    this.code = code;
  }
}
