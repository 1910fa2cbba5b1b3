import { electronicFormatIBAN, getCountrySpecifications, isValidIBAN } from 'ibantools';
import ipaddr from 'ipaddr.js';
import type { ScrubPattern } from '../../shared/config/finetune-config.ts';

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

interface Detector {
  name: string;
  pattern: RegExp;
  /** A cheap test that the text may hold a match at all; skips the pass when false. */
  may?: (text: string) => boolean;
  /** The part of the match to replace, or `undefined` to leave it (a checksum failed). */
  accept?: (match: string) => string | undefined;
}

const hasDigit = (text: string) => /\d/.test(text);
const ibanSpecs = getCountrySpecifications();

/** The Luhn checksum every payment card number carries (ISO/IEC 7812). */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

/** Bits per character: random base64 is near 5 at 40+ characters, words and paths near 4. */
function entropy(text: string): number {
  const counts = new Map<string, number>();
  for (const ch of text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) bits -= (n / text.length) * Math.log2(n / text.length);
  return bits;
}

/**
 * Mostly words (a path, a camelCase name): half its characters in runs like `Users` or
 * `report`. Random base64 has few runs of 3+ lower-case letters ((26/64)³ per position).
 */
const wordy = (text: string) =>
  (text.match(/[A-Z]?[a-z]{3,}/g) ?? []).join('').length >= text.length / 2;

/**
 * An IBAN candidate cut to its country's length (the pattern may run on into the next word),
 * kept only when its mod-97 checksum holds; spaces inside it count as part of the match.
 */
function acceptIban(match: string): string | undefined {
  const length = ibanSpecs[match.slice(0, 2)]?.chars;
  if (!length) return undefined;
  let seen = 0;
  let end = 0;
  while (end < match.length && seen < length) if (match[end++] !== ' ') seen++;
  const candidate = match.slice(0, end);
  return seen === length && isValidIBAN(electronicFormatIBAN(candidate) ?? '')
    ? candidate
    : undefined;
}

/**
 * The built-in detectors, in the order they run: specific formats first, so a JWT is not read
 * as base64 and a card number not as a phone number.
 */
const detectors: Detector[] = [
  {
    name: 'JWT',
    pattern: /eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*/g,
    may: (t) => t.includes('eyJ'),
  },
  {
    name: 'API_KEY',
    pattern: new RegExp(
      [
        String.raw`(?<![\w-])sk-[\w-]{16,}`, // OpenAI, Anthropic
        String.raw`(?<![\w-])(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}`, // Stripe
        String.raw`(?<![\w-])lb_[0-9A-Za-z]{8}_[0-9A-Za-z]{24,}`, // lowburn API keys
        String.raw`(?<![\w-])whsec_[A-Za-z0-9+/=]{16,}`, // Standard Webhooks secrets
        `(?<![0-9A-Z])(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Z])`, // AWS access key ids
        String.raw`(?<![\w-])(?:gh[pousr]_[0-9A-Za-z]{36,}|github_pat_\w{22,})`, // GitHub
        String.raw`(?<![\w-])xox[abposr]-[0-9A-Za-z-]{10,}`, // Slack
        String.raw`(?<![\w-])AIza[\w-]{35}`, // Google
      ].join('|'),
      'g',
    ),
  },
  {
    // `user:password@` in a URL (a connection string), before the e-mail pass reads it as one.
    name: 'CREDENTIALS',
    pattern: /(?<=\b[a-z][a-z0-9+.-]*:\/\/)[^\s/:@<>]+:[^\s/@<>]+(?=@)/gi,
    may: (t) => t.includes('://'),
  },
  {
    name: 'EMAIL',
    pattern: /[\w.%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g,
    may: (t) => t.includes('@'),
  },
  {
    name: 'IBAN',
    pattern: /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,34}/g,
    may: hasDigit,
    accept: acceptIban,
  },
  {
    name: 'CARD',
    pattern: /(?<![\d.])(?:\d[ -]?){12,18}\d(?!\d)/g,
    may: hasDigit,
    accept: (m) => {
      const digits = m.replace(/[ -]/g, '');
      return digits.length >= 13 && luhnValid(digits) ? m : undefined;
    },
  },
  {
    name: 'IP',
    pattern: /(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)|(?<![\w:.])[0-9A-Fa-f:]{2,39}(?![\w:])/g,
    may: (t) => t.includes('.') || t.includes(':'),
    accept: (m) =>
      m.includes('.')
        ? ipaddr.IPv4.isValidFourPartDecimal(m)
          ? m
          : undefined
        : (m.match(/:/g)?.length ?? 0) >= 2 && /[0-9A-Fa-f]/.test(m) && ipaddr.IPv6.isValid(m)
          ? m
          : undefined,
  },
  {
    name: 'PHONE',
    pattern: new RegExp(
      [
        String.raw`(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,6}(?!\w)`, // +44 20 7946 0958
        // National forms, not inside a longer run of digit groups (an account number, an IBAN).
        String.raw`(?<![\w+(]|\d[ .-])(?:\(\d{3}\) ?|\d{3}[-. ])\d{3}[-. ]\d{4}(?![\w]|[ .-]\d)`, // (415) 555-0123
        String.raw`(?<![\w+]|\d[ .-])0\d{1,4}[ /-]\d{3,4}[ -]?\d{2,4}(?![\w]|[ .-]\d)`, // 030 1234 5678
      ].join('|'),
      'g',
    ),
    may: hasDigit,
    accept: (m) => {
      const digits = m.replace(/\D/g, '').length;
      return digits >= 8 && digits <= 15 ? m : undefined;
    },
  },
  {
    name: 'SECRET',
    pattern: /(?<![\w+/=-])(?:[0-9a-fA-F]{32,}|[\w+/-]{40,}={0,2})(?![\w+/=-])/g,
    accept: (m) => {
      if (/^[0-9a-fA-F]+$/.test(m)) return /\d/.test(m) && /[a-fA-F]/.test(m) ? m : undefined;
      const mixed = /\d/.test(m) && /[a-z]/.test(m) && /[A-Z]/.test(m);
      return mixed && entropy(m) >= 4.3 && !wordy(m) ? m : undefined;
    },
  },
];

function runDetector(text: string, detector: Detector, counts: ClassCounts): string {
  if (detector.may && !detector.may(text)) return text;
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
    let out = text;
    for (const detector of all) out = runDetector(out, detector, counts);
    return out;
  };
  const secretClasses = all.filter((d) => d.name !== 'EMAIL' && d.name !== 'PHONE');

  return {
    scrub(text, counts) {
      const first = text.trimStart()[0];
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
        for (const detector of secretClasses) runDetector(decoded, detector, found);
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
