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
import { PgEncodingError } from '../errors/pg-encoding-error.ts';

const OID = { uuid: 2950, text: 25, timestamptz: 1184, float8: 701, jsonb: 3802 } as const;

/**
 * One-dimensional array: header (ndim, has-null flag, element type, length, lower bound 1), then
 * each element as its length and bytes. `size` returns an element's byte length (null for NULL)
 * and `write` writes it in place, so no per-element Buffer is allocated.
 */
function array<T>(
  oid: number,
  values: readonly T[],
  size: (value: T) => number | null,
  write: (out: Buffer, at: number, value: T, length: number) => void,
): Buffer {
  const lengths = new Array<number | null>(values.length);
  let total = 20;
  let hasNull = 0;
  for (let i = 0; i < values.length; i++) {
    const length = size(values[i] as T);
    lengths[i] = length;
    if (length === null) hasNull = 1;
    total += 4 + (length ?? 0);
  }
  const out = Buffer.allocUnsafe(total);
  out.writeInt32BE(1, 0);
  out.writeInt32BE(hasNull, 4);
  out.writeInt32BE(oid, 8);
  out.writeInt32BE(values.length, 12);
  out.writeInt32BE(1, 16);
  let at = 20;
  for (let i = 0; i < values.length; i++) {
    const length = lengths[i] ?? null;
    if (length === null) {
      out.writeInt32BE(-1, at);
      at += 4;
      continue;
    }
    out.writeInt32BE(length, at);
    write(out, at + 4, values[i] as T, length);
    at += 4 + length;
  }
  return out;
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** `uuid[]` from canonical (or unhyphenated) UUID strings. */
export function uuidArray(values: readonly string[]): Buffer {
  return array(
    OID.uuid,
    values,
    (value) => {
      if (typeof value !== 'string' || !UUID.test(value)) {
        throw new PgEncodingError(`invalid input syntax for type uuid: ${String(value)}`, '22P02');
      }
      return 16;
    },
    (out, at, value) => {
      out.write(value.length === 32 ? value : value.replaceAll('-', ''), at, 16, 'hex');
    },
  );
}

/** `text[]` (UTF-8); `null`/`undefined` become NULL. */
export function textArray(values: readonly (string | null | undefined)[]): Buffer {
  return array(
    OID.text,
    values,
    (value) => {
      if (value === null || value === undefined) return null;
      if (typeof value !== 'string') {
        throw new PgEncodingError(`not a string: ${String(value)}`, '22P02');
      }
      return Buffer.byteLength(value, 'utf8');
    },
    (out, at, value, length) => {
      out.write(value as string, at, length, 'utf8');
    },
  );
}

/** `float8[]`. */
export function float8Array(values: readonly number[]): Buffer {
  return array(
    OID.float8,
    values,
    (value) => {
      if (typeof value !== 'number') {
        throw new PgEncodingError(`not a number: ${String(value)}`, '22P02');
      }
      return 8;
    },
    (out, at, value) => {
      out.writeDoubleBE(value, at);
    },
  );
}

/** `jsonb[]` from JSON texts (jsonb's binary format is a version byte, then the text). */
export function jsonbArray(values: readonly (string | null | undefined)[]): Buffer {
  return array(
    OID.jsonb,
    values,
    (value) => (value === null || value === undefined ? null : 1 + Buffer.byteLength(value)),
    (out, at, value, length) => {
      out[at] = 1;
      out.write(value as string, at + 1, length - 1, 'utf8');
    },
  );
}

const US_PER_DAY = 86_400_000_000;
/** Days from 1970-01-01 to Postgres's epoch, 2000-01-01. */
const PG_EPOCH_DAYS = 10_957;
const PG_EPOCH_MS = PG_EPOCH_DAYS * 86_400_000;

/**
 * `timestamptz[]` from microseconds since 2000-01-01 UTC (see {@link isoToPgMicros}): exact
 * integers in a double, good for years 1715–2284.
 */
export function timestamptzArray(values: readonly number[]): Buffer {
  return array(
    OID.timestamptz,
    values,
    () => 8,
    (out, at, value) => {
      // int64 big-endian from a safe integer, in two 32-bit halves (no BigInt per element).
      const high = Math.floor(value / 2 ** 32);
      out.writeInt32BE(high, at);
      out.writeUInt32BE(value - high * 2 ** 32, at + 4);
    },
  );
}

const dayNames = new Map<number, string>();

/** The UTC day (`YYYY-MM-DD`) of a Postgres timestamp in microseconds. */
export function pgMicrosToDay(micros: number): string {
  const day = Math.floor(micros / US_PER_DAY) + PG_EPOCH_DAYS;
  let name = dayNames.get(day);
  if (name === undefined) {
    name = new Date(day * 86_400_000).toISOString().slice(0, 10);
    if (dayNames.size > 10_000) dayNames.clear();
    dayNames.set(day, name);
  }
  return name;
}

const ZONE = /(?:Z|[+-]\d\d:?\d\d)$/i;

/**
 * Microseconds since 2000-01-01 UTC for an ISO 8601 timestamp with a zone. Fractional seconds
 * round to microseconds exactly as Postgres's text input does (`rint(fraction × 10⁶)`, ties to
 * even), so a value stores the same instant whichever way it is sent — and lands in the day
 * partition Postgres would pick (…T23:59:59.9999996Z is the next day).
 */
export function isoToPgMicros(value: string): number {
  if (typeof value !== 'string' || !ZONE.test(value)) throw invalidTimestamp(value);
  // The fraction, if any, follows the seconds: "YYYY-MM-DDTHH:MM:SS.fff…".
  const dot = value.indexOf('.', 19) === 19 ? 19 : -1;
  let end = dot + 1;
  while (dot !== -1 && end < value.length && isDigit(value.charCodeAt(end))) end++;
  let micros: number;
  if (dot === -1 || end - dot - 1 <= 3) {
    // Up to milliseconds, Date.parse is exact.
    micros = (Date.parse(value) - PG_EPOCH_MS) * 1000;
  } else {
    const whole = Date.parse(value.slice(0, dot) + value.slice(end));
    micros =
      (whole - PG_EPOCH_MS) * 1000 + roundHalfEven(Number(`0${value.slice(dot, end)}`) * 1e6);
  }
  if (!Number.isFinite(micros)) throw invalidTimestamp(value);
  return micros;
}

const isDigit = (code: number) => code >= 48 && code <= 57;

const invalidTimestamp = (value: unknown) =>
  new PgEncodingError(
    `invalid input syntax for type timestamp with time zone: ${String(value)}`,
    '22007',
  );

/** C's `rint` in the default rounding mode: to the nearest integer, ties to even. */
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff < 0.5) return floor;
  if (diff > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}
