import type { ScrubPattern } from '../../shared/config/finetune-config.ts';
import { type Detector, detectors, type Shape, shapeOf } from './detectors.ts';

export { luhnValid } from './detectors.ts';

/** The PII and secret classes scrubbed from every message, each replaced by `<CLASS>`. */
export const piiClasses = [
  'JWT',
  'API_KEY',
  'CREDENTIALS',
  'EMAIL',
  'IBAN',
  'CARD',
  'IP',
  'PHONE',
  'SECRET',
] as const;

/** Replacements made, by class (the built-in ones and `FINETUNE_SCRUB_PATTERNS`' names). */
export type ClassCounts = Record<string, number>;

function runDetector(text: string, detector: Detector, counts: ClassCounts, shape: Shape): string {
  if (detector.may && !detector.may(text, shape)) return text;
  detector.pattern.lastIndex = 0;
  return text.replace(detector.pattern, (match) => {
    const hit = detector.accept ? detector.accept(match) : match;
    if (hit === undefined) return match;
    counts[detector.name] = (counts[detector.name] ?? 0) + 1;
    return `<${detector.name}>${match.slice(hit.length)}`;
  });
}

/** Secrets that cannot be replaced safely: a row still holding one is dropped, never written. */
const residuals: { name: string; pattern: RegExp }[] = [
  { name: 'PRIVATE_KEY', pattern: /-----BEGIN [A-Z ]*PRIVATE KEY-----/ },
  {
    name: 'BEARER_TOKEN',
    pattern:
      /\b(?:bearer\s+|authorization:\s*(?:basic|token)\s+)(?!<[A-Z_]+>)[A-Za-z0-9._~+/-]{16,}/i,
  },
  {
    name: 'ASSIGNED_SECRET',
    pattern:
      /\b(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret)["']?\s*[:=]\s*["']?(?!<[A-Z_]+>)[^\s"',;<>]{6,}/i,
  },
];

export interface Scrubber {
  /**
   * `text` with every detected item replaced by its typed placeholder (`<EMAIL>`); the count
   * of each class is added to `counts`. Text that is JSON (a schema task's answer, say) is
   * scrubbed value by value, numbers included, and stays valid JSON.
   */
  scrub(text: string, counts: ClassCounts): string;
  /** The class of a secret `text` still holds after scrubbing, if any. */
  residual(text: string): string | undefined;
}

/** A scrubber for the built-in classes plus the app's own `patterns` (run first). */
export function createScrubber(patterns: readonly ScrubPattern[] = []): Scrubber {
  const all: Detector[] = [
    ...patterns.map((p) => ({ name: p.name, pattern: new RegExp(p.pattern.source, 'g') })),
    ...detectors,
  ];
  const scrubText = (text: string, counts: ClassCounts) => {
    const shape = shapeOf(text);
    let out = text;
    for (const detector of all) out = runDetector(out, detector, counts, shape);
    return out;
  };
  const secretClasses = all.filter((d) => d.name !== 'EMAIL' && d.name !== 'PHONE');

  return {
    scrub(text, counts) {
      const first = /\S/.exec(text)?.[0];
      if (first === '{' || first === '[') {
        const json = scrubJson(text, scrubText, counts);
        if (json !== undefined) return json;
      }
      return scrubText(text, counts);
    },
    residual(text) {
      for (const { name, pattern } of residuals) if (pattern.test(text)) return name;
      // Escaped forms (`sk\u002d…` in a JSON string) read as what they decode to.
      if (text.includes('\\u')) {
        const decoded = text.replace(/\\u([0-9a-fA-F]{4})/g, (_, hex: string) =>
          String.fromCharCode(Number.parseInt(hex, 16)),
        );
        const found: ClassCounts = {};
        const shape = shapeOf(decoded);
        for (const detector of secretClasses) runDetector(decoded, detector, found, shape);
        const name = Object.keys(found)[0];
        if (name) return name;
      }
      return undefined;
    },
  };
}

/**
 * JSON text scrubbed value by value: strings and keys as text, numbers by their source text
 * (a card number as a JSON number becomes the string `"<CARD>"`), so the result still parses.
 * Unchanged JSON keeps its exact text; `undefined` when the text is not JSON.
 */
function scrubJson(
  text: string,
  scrubText: (text: string, counts: ClassCounts) => string,
  counts: ClassCounts,
): string | undefined {
  let changed = false;
  const scrubOne = (value: string) => {
    const out = scrubText(value, counts);
    if (out !== value) changed = true;
    return out;
  };
  let parsed: unknown;
  try {
    // The reviver's third argument (source text access) gives a number's digits as written.
    const reviver = (_key: string, value: unknown, context?: { source?: string }) => {
      if (typeof value === 'string') return scrubOne(value);
      if (typeof value === 'number' && context?.source) {
        const out = scrubOne(context.source);
        return out === context.source ? value : out;
      }
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [scrubOne(k), v]));
      }
      return value;
    };
    parsed = JSON.parse(text, reviver as Parameters<typeof JSON.parse>[1]);
  } catch {
    return undefined;
  }
  return changed ? JSON.stringify(parsed) : text;
}
