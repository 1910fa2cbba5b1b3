/**
 * Postgres's binary wire format, for batched writes: arrays (`array_recv`) for `INSERT … SELECT
 * FROM unnest($1::uuid[], …)`, and whole rows for `COPY … FROM STDIN (FORMAT binary)`. Postgres
 * reads each value with the type's binary receive function instead of parsing text and casting
 * it: for a batch of pings that text parsing (uuid, timestamptz, jsonb) was ~30 % of the
 * insert's Postgres CPU (see bench:telemetry). node-postgres sends a `Buffer` parameter as
 * binary.
 *
 * Each codec checks its input and throws {@link PgEncodingError} (a SQLSTATE class 22 code, like
 * the error Postgres would have raised) instead of sending a value Postgres would store
 * differently. The uuid codec is stricter than Postgres: it takes the canonical 8-4-4-4-12 form
 * (either case) or 32 hex digits, and refuses braces or other hyphen placements that Postgres
 * would read (ingest admits only the canonical form).
 */
import { PgEncodingError } from '../errors/pg-encoding-error.ts';

/**
 * One type's binary format: `size` returns a value's byte length (`null` for NULL) and `write`
 * writes its bytes in place, so no per-value Buffer is allocated.
 */
export interface PgCodec<T> {
  /** The type's name, for casts such as `$1::uuid[]`. */
  readonly type: string;
  readonly oid: number;
  size(value: T): number | null;
  write(out: Buffer, at: number, value: T, length: number): void;
}

/** Hex digit values by character code; -1 for any other character. */
const HEX = new Int8Array(128).fill(-1);
for (let d = 0; d < 16; d++) {
  HEX[d.toString(16).charCodeAt(0)] = d;
  HEX[d.toString(16).toUpperCase().charCodeAt(0)] = d;
}
const invalidUuid = (value: unknown) =>
  new PgEncodingError(`invalid input syntax for type uuid: ${String(value)}`, '22P02');

/**
 * `uuid` from a canonical (8-4-4-4-12, either case) or unhyphenated UUID string, decoded by
 * hand: a regular expression, `replaceAll` and a hex write cost ~3× as much per id.
 */
const uuid: PgCodec<string> = {
  type: 'uuid',
  oid: 2950,
  size(value) {
    if (typeof value !== 'string') throw invalidUuid(value);
    const { length } = value;
    if (length === 32) return 16;
    if (
      length === 36 &&
      value.charCodeAt(8) === 45 &&
      value.charCodeAt(13) === 45 &&
      value.charCodeAt(18) === 45 &&
      value.charCodeAt(23) === 45
    ) {
      return 16;
    }
    throw invalidUuid(value);
  },
  write(out, at, value) {
    const hyphens = value.length === 36;
    for (let i = 0, c = 0; i < 16; i++, c += 2) {
      // Hyphens follow bytes 4, 6, 8 and 10.
      if (hyphens && (i === 4 || i === 6 || i === 8 || i === 10)) c++;
      const high = HEX[value.charCodeAt(c)] ?? -1;
      const low = HEX[value.charCodeAt(c + 1)] ?? -1;
      if (high < 0 || low < 0) throw invalidUuid(value);
      out[at + i] = (high << 4) | low;
    }
  },
};

/** `text` (UTF-8); `null`/`undefined` are NULL. */
const text: PgCodec<string | null | undefined> = {
  type: 'text',
  oid: 25,
  size(value) {
    if (value === null || value === undefined) return null;
    if (typeof value !== 'string') {
      throw new PgEncodingError(`not a string: ${String(value)}`, '22P02');
    }
    return Buffer.byteLength(value, 'utf8');
  },
  write(out, at, value, length) {
    out.write(value as string, at, length, 'utf8');
  },
};

/** `float8`. */
const float8: PgCodec<number> = {
  type: 'float8',
  oid: 701,
  size(value) {
    if (typeof value !== 'number') {
      throw new PgEncodingError(`not a number: ${String(value)}`, '22P02');
    }
    return 8;
  },
  write(out, at, value) {
    out.writeDoubleBE(value, at);
  },
};

/** `jsonb` from a JSON text (its binary format is a version byte, then the text). */
const jsonb: PgCodec<string | null | undefined> = {
  type: 'jsonb',
  oid: 3802,
  size: (value) => (value === null || value === undefined ? null : 1 + Buffer.byteLength(value)),
  write(out, at, value, length) {
    out[at] = 1;
    out.write(value as string, at + 1, length - 1, 'utf8');
  },
};

/**
 * `timestamptz` from microseconds since 2000-01-01 UTC (see {@link isoToPgMicros}): exact
 * integers in a double, good for years 1715–2284.
 */
const timestamptz: PgCodec<number> = {
  type: 'timestamptz',
  oid: 1184,
  size: () => 8,
  write(out, at, value) {
    // int64 big-endian from a safe integer, in two 32-bit halves (no BigInt per value).
    const high = Math.floor(value / 2 ** 32);
    out.writeInt32BE(high, at);
    out.writeUInt32BE(value - high * 2 ** 32, at + 4);
  },
};

/** The codecs, by Postgres type name. */
export const pgBinary = { uuid, text, float8, jsonb, timestamptz } as const;

/** A one-dimensional array of `values`, e.g. `pgArray(pgBinary.uuid, ids)` for `$1::uuid[]`. */
export function pgArray<T>(codec: PgCodec<T>, values: readonly T[]): Buffer {
  // Header: ndim, has-null flag, element type, length, lower bound 1; then each element as
  // its length (-1 for NULL) and bytes.
  const lengths = new Array<number | null>(values.length);
  let total = 20;
  let hasNull = 0;
  for (let i = 0; i < values.length; i++) {
    const length = codec.size(values[i] as T);
    lengths[i] = length;
    if (length === null) hasNull = 1;
    total += 4 + (length ?? 0);
  }
  const out = Buffer.allocUnsafe(total);
  out.writeInt32BE(1, 0);
  out.writeInt32BE(hasNull, 4);
  out.writeInt32BE(codec.oid, 8);
  out.writeInt32BE(values.length, 12);
  out.writeInt32BE(1, 16);
  let at = 20;
  for (let i = 0; i < values.length; i++) {
    at = writeValue(out, at, codec, values[i] as T, lengths[i] ?? null);
  }
  return out;
}

/** A column of a binary COPY: its codec and one value per row. */
export interface PgColumn<T> {
  codec: PgCodec<T>;
  values: readonly T[];
}

const COPY_SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/**
 * The input of `COPY table (columns…) FROM STDIN (FORMAT binary)`: `columns` in the statement's
 * order, all of the same length (one value per row).
 */
// biome-ignore lint/suspicious/noExplicitAny: columns of different value types, each checked by its codec.
export function pgCopyRows(columns: readonly PgColumn<any>[]): Buffer {
  const rows = columns[0]?.values.length ?? 0;
  // Header: signature, flags, extension length; each row: field count, then each field as its
  // length (-1 for NULL) and bytes; trailer: -1.
  let total = COPY_SIGNATURE.length + 8 + rows * 2 + 2;
  const lengths = columns.map(({ codec, values }) => {
    if (values.length !== rows) throw new Error('COPY columns must have one value per row');
    const column = new Array<number | null>(rows);
    for (let i = 0; i < rows; i++) {
      const length = codec.size(values[i]);
      column[i] = length;
      total += 4 + (length ?? 0);
    }
    return column;
  });
  const out = Buffer.allocUnsafe(total);
  let at = COPY_SIGNATURE.copy(out, 0);
  at = out.writeInt32BE(0, at);
  at = out.writeInt32BE(0, at);
  for (let row = 0; row < rows; row++) {
    at = out.writeInt16BE(columns.length, at);
    for (let c = 0; c < columns.length; c++) {
      const { codec, values } = columns[c] as PgColumn<unknown>;
      at = writeValue(out, at, codec, values[row], lengths[c]?.[row] ?? null);
    }
  }
  out.writeInt16BE(-1, at);
  return out;
}

/** One value as its length and bytes; returns the offset after it. */
function writeValue<T>(
  out: Buffer,
  at: number,
  codec: PgCodec<T>,
  value: T,
  length: number | null,
): number {
  if (length === null) return out.writeInt32BE(-1, at);
  out.writeInt32BE(length, at);
  codec.write(out, at + 4, value, length);
  return at + 4 + length;
}

const US_PER_DAY = 86_400_000_000;
/** Days from 1970-01-01 to Postgres's epoch, 2000-01-01. */
const PG_EPOCH_DAYS = 10_957;
const PG_EPOCH_MS = PG_EPOCH_DAYS * 86_400_000;

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
