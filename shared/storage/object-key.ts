import { InvalidObjectKeyError } from '../errors/invalid-object-key-error.ts';

/** Top-level names starting with this are reserved for the file driver's metadata and temp. */
export const RESERVED_KEY_PREFIX = '.lowburn-';

// S3's limit, in UTF-8 bytes; the file driver applies it too so keys stay portable.
const MAX_KEY_BYTES = 1024;
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting them is the point.
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/**
 * Throws an {@link InvalidObjectKeyError} unless `key` is a relative, `/`-separated path with no
 * empty, `.` or `..` segments, no backslashes and no control characters.
 *
 * Both drivers call this, so a key that works against the file driver in development also works
 * against S3 in production, and no key can name a file outside the file driver's root.
 */
export function assertValidKey(key: string): void {
  if (typeof key !== 'string' || key === '') throw new InvalidObjectKeyError(key, 'is empty');
  checkCommon(key);
  checkSegments(key, key.split('/'));
}

/**
 * `true` when {@link assertValidKey} would accept `key`. Listings use it to skip names written by
 * other tools that lowburn could not address (`get` would reject them anyway).
 */
export function isValidKey(key: string): boolean {
  try {
    assertValidKey(key);
    return true;
  } catch {
    return false;
  }
}

/**
 * Like {@link assertValidKey}, for `list` prefixes: `''` (everything) is allowed, and the last
 * segment may be empty (`reports/`) or partial (`reports/2024-0`, `.`). Only the segments before
 * the last `/` name folders the file driver walks, so only they must be valid key segments.
 */
export function assertValidPrefix(prefix: string): void {
  if (typeof prefix !== 'string') throw new InvalidObjectKeyError(prefix, 'is not a string');
  if (prefix === '') return;
  checkCommon(prefix);
  const folders = prefix.split('/').slice(0, -1);
  if (folders.length > 0) checkSegments(prefix, folders);
}

/**
 * Throws a `RangeError` unless `range` is an inclusive byte range with `0 <= start <= end`. An
 * `end` past the last byte is allowed (both drivers read to the end, as S3 does).
 */
export function assertValidRange(range: { start: number; end: number }): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(
      `Invalid byte range ${start}-${end}: need integers with 0 <= start <= end`,
    );
  }
}

/**
 * Orders keys the way S3's ListObjectsV2 does: by their UTF-8 bytes. (JavaScript's `<` compares
 * UTF-16 code units, which disagrees for characters above U+FFFF.)
 */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function checkCommon(key: string): void {
  if (key.startsWith('/')) throw new InvalidObjectKeyError(key, 'is absolute (starts with "/")');
  if (key.includes('\\')) throw new InvalidObjectKeyError(key, 'contains a backslash');
  if (CONTROL_CHARS.test(key)) throw new InvalidObjectKeyError(key, 'contains a control character');
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    throw new InvalidObjectKeyError(key, `is longer than ${MAX_KEY_BYTES} bytes`);
  }
}

function checkSegments(key: string, segments: string[]): void {
  for (const segment of segments) {
    if (segment === '')
      throw new InvalidObjectKeyError(key, 'has an empty segment ("//" or a trailing "/")');
    if (segment === '.' || segment === '..') {
      throw new InvalidObjectKeyError(key, `contains a "${segment}" segment`);
    }
  }
  if (segments[0]?.startsWith(RESERVED_KEY_PREFIX)) {
    throw new InvalidObjectKeyError(key, `starts with the reserved "${RESERVED_KEY_PREFIX}"`);
  }
}
