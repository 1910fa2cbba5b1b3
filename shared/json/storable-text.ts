/**
 * Text Postgres can store. `text` and `jsonb` refuse U+0000 (`invalid byte sequence for encoding
 * "UTF8": 0x00`, `unsupported Unicode escape sequence`), and a lone UTF-16 surrogate has no
 * UTF-8 form (`\ud800` in JSON: `invalid input syntax for type json`). JavaScript strings hold
 * both happily, so input must be checked before it is accepted, and anything written from text
 * that was not checked (a model's answer, an error message) must be made storable first.
 */

/** What is wrong with `text` for Postgres, or `undefined` when it can be stored. */
export function unstorableText(text: string): string | undefined {
  if (text.includes('\u0000')) return 'must not contain a NUL character (U+0000)';
  if (!text.isWellFormed()) return 'must be valid Unicode (no lone surrogates such as \\ud800)';
  return undefined;
}

/** A string or key somewhere in a JSON value that Postgres cannot store. */
export interface UnstorableField {
  /** Where it is: object keys and array indexes from the top. */
  path: (string | number)[];
  /** `value` for a string value, `key` for an object key. */
  kind: 'value' | 'key';
  problem: string;
}

/** The first string or object key in `value` that Postgres cannot store, depth first. */
export function findUnstorable(
  value: unknown,
  path: (string | number)[] = [],
): UnstorableField | undefined {
  if (typeof value === 'string') {
    const problem = unstorableText(value);
    return problem ? { path, kind: 'value', problem } : undefined;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnstorable(value[i], [...path, i]);
      if (found) return found;
    }
    return undefined;
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      const problem = unstorableText(key);
      if (problem) return { path: [...path, key], kind: 'key', problem };
      const found = findUnstorable(child, [...path, key]);
      if (found) return found;
    }
  }
  return undefined;
}

/** `text` with every NUL and lone surrogate replaced by U+FFFD, so Postgres can store it. */
export function toStorableText(text: string): string {
  const wellFormed = text.toWellFormed();
  return wellFormed.includes('\u0000') ? wellFormed.replaceAll('\u0000', '\uFFFD') : wellFormed;
}

/**
 * `value` as JSON text whose strings and keys Postgres can store (see {@link toStorableText}):
 * what `jsonb` columns get from text nobody checked. Dates and other `toJSON` values serialise as
 * `JSON.stringify` would.
 */
export function toStorableJson(value: unknown): string {
  return JSON.stringify(value, storableReplacer);
}

function storableReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'string') return toStorableText(value);
  if (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    Object.keys(value).some((key) => unstorableText(key) !== undefined)
  ) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [toStorableText(k), v]));
  }
  return value;
}
