/**
 * Postgres arrays in the binary wire format (`array_recv`), for batched `INSERT … SELECT FROM
 * unnest($1::uuid[], …)`. node-postgres sends a `Buffer` parameter as binary, so Postgres reads
 * each element with the type's binary receive function instead of parsing array literals and
 * then casting every element from text: for a batch of pings that text parsing (uuid,
 * timestamptz, jsonb) was ~30 % of the insert's Postgres CPU (see bench:telemetry).
 *
 * Each encoder checks its input as strictly as Postgres's text input would, and throws
 * {@link PgEncodingError} (a SQLSTATE class 22 code, like the error Postgres would have raised)
 * instead of sending a value Postgres would store differently.
 */

/** A value that cannot be encoded; `code` is the SQLSTATE Postgres would raise for it as text. */
export class PgEncodingError extends Error {
  override name = 'PgEncodingError';
  readonly code: '22P02' | '22007';
  constructor(message: string, code: '22P02' | '22007') {
    super(message);
    this.code = code;
  }
}

const OID = { uuid: 2950, text: 25, timestamptz: 1184, float8: 701, jsonb: 3802 } as const;

/** One-dimensional array: header (ndim, has-null flag, element type, length, lower bound 1). */
function array(oid: number, items: readonly (Buffer | null)[]): Buffer {
  let size = 20;
  let hasNull = 0;
  for (const item of items) {
    size += 4 + (item?.length ?? 0);
    if (item === null) hasNull = 1;
  }
  const out = Buffer.allocUnsafe(size);
  let at = out.writeInt32BE(1, 0);
  at = out.writeInt32BE(hasNull, at);
  at = out.writeInt32BE(oid, at);
  at = out.writeInt32BE(items.length, at);
  at = out.writeInt32BE(1, at);
  for (const item of items) {
    if (item === null) {
      at = out.writeInt32BE(-1, at);
    } else {
      at = out.writeInt32BE(item.length, at);
      at += item.copy(out, at);
    }
  }
  return out;
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** `uuid[]` from canonical (or unhyphenated) UUID strings. */
export function uuidArray(values: readonly string[]): Buffer {
  return array(
    OID.uuid,
    values.map((value) => {
      if (typeof value !== 'string' || !UUID.test(value)) {
        throw new PgEncodingError(`invalid input syntax for type uuid: ${String(value)}`, '22P02');
      }
      return Buffer.from(value.replaceAll('-', ''), 'hex');
    }),
  );
}

/** `text[]` (UTF-8); `null`/`undefined` become NULL. */
export function textArray(values: readonly (string | null | undefined)[]): Buffer {
  return array(
    OID.text,
    values.map((value) => {
      if (value === null || value === undefined) return null;
      if (typeof value !== 'string') {
        throw new PgEncodingError(`not a string: ${String(value)}`, '22P02');
      }
      return Buffer.from(value, 'utf8');
    }),
  );
}

/** `float8[]`. */
export function float8Array(values: readonly number[]): Buffer {
  return array(
    OID.float8,
    values.map((value) => {
      if (typeof value !== 'number') {
        throw new PgEncodingError(`not a number: ${String(value)}`, '22P02');
      }
      const out = Buffer.allocUnsafe(8);
      out.writeDoubleBE(value);
      return out;
    }),
  );
}

/** `jsonb[]` from JSON texts (jsonb's binary format is a version byte, then the text). */
export function jsonbArray(values: readonly (string | null | undefined)[]): Buffer {
  return array(
    OID.jsonb,
    values.map((value) => {
      if (value === null || value === undefined) return null;
      const text = Buffer.from(value, 'utf8');
      const out = Buffer.allocUnsafe(text.length + 1);
      out[0] = 1;
      text.copy(out, 1);
      return out;
    }),
  );
}

/** Microseconds from the Unix epoch to Postgres's (2000-01-01T00:00:00Z). */
const PG_EPOCH_US = 946_684_800_000_000n;
const FRACTION = /^(.*T\d\d:\d\d:\d\d)\.(\d+)(.*)$/;

/** `timestamptz[]` from microseconds since 2000-01-01 UTC (see {@link isoToPgMicros}). */
export function timestamptzArray(values: readonly bigint[]): Buffer {
  return array(
    OID.timestamptz,
    values.map((value) => {
      const out = Buffer.allocUnsafe(8);
      out.writeBigInt64BE(value);
      return out;
    }),
  );
}

/** The UTC day (`YYYY-MM-DD`) of a Postgres timestamp in microseconds. */
export function pgMicrosToDay(micros: bigint): string {
  return new Date(Number((micros + PG_EPOCH_US) / 1000n)).toISOString().slice(0, 10);
}

/**
 * Microseconds since 2000-01-01 UTC for an ISO 8601 timestamp with a zone. Fractional seconds
 * round to microseconds exactly as Postgres's text input does (`rint(fraction × 10⁶)`, ties to
 * even), so a value stores the same instant whichever way it is sent — and lands in the day
 * partition Postgres would pick (…T23:59:59.9999996Z is the next day).
 */
export function isoToPgMicros(value: string): bigint {
  const invalid = () =>
    new PgEncodingError(
      `invalid input syntax for type timestamp with time zone: ${String(value)}`,
      '22007',
    );
  if (typeof value !== 'string' || !/(Z|[+-]\d\d:?\d\d)$/i.test(value)) throw invalid();
  const parts = FRACTION.exec(value);
  const whole = Date.parse(parts ? `${parts[1]}${parts[3]}` : value);
  if (!Number.isFinite(whole)) throw invalid();
  const fraction = parts ? roundHalfEven(Number(`0.${parts[2]}`) * 1e6) : 0;
  return BigInt(whole) * 1000n + BigInt(fraction) - PG_EPOCH_US;
}

/** C's `rint` in the default rounding mode: to the nearest integer, ties to even. */
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff < 0.5) return floor;
  if (diff > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}
