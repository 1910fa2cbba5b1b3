import { electronicFormatIBAN, getCountrySpecifications, isValidIBAN } from 'ibantools';
import ipaddr from 'ipaddr.js';

/** What one pass over a text's characters tells the detectors, so most can skip their pass. */
export interface Shape {
  digits: number;
  /** Longest run of characters a key or token is made of (`[A-Za-z0-9_+/=-]`). */
  longestRun: number;
}

export interface Detector {
  name: string;
  pattern: RegExp;
  /** A cheap test that the text may hold a match at all; skips the pass when false. */
  may?: (text: string, shape: Shape) => boolean;
  /** The part of the match to replace, or `undefined` to leave it (a checksum failed). */
  accept?: (match: string) => string | undefined;
}

/**
 * Digits and the longest token-like run, in one pass. Replacements only shorten both, so a
 * shape taken before the first pass stays a safe upper bound for every later one.
 */
export function shapeOf(text: string): Shape {
  let digits = 0;
  let run = 0;
  let longestRun = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const digit = c >= 48 && c <= 57;
    if (digit) digits++;
    // A-Z a-z 0-9 _ + / = -
    if (
      digit ||
      (c >= 65 && c <= 90) ||
      (c >= 97 && c <= 122) ||
      c === 95 ||
      c === 43 ||
      c === 47 ||
      c === 61 ||
      c === 45
    ) {
      if (++run > longestRun) longestRun = run;
    } else run = 0;
  }
  return { digits, longestRun };
}

const KEY_MARKS = [
  'sk-',
  '_live_',
  '_test_',
  'lb_',
  'whsec_',
  'AKIA',
  'ASIA',
  'ghp_',
  'gho_',
  'ghu_',
  'ghs_',
  'ghr_',
  'github_pat_',
  'xox',
  'AIza',
];
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
export const detectors: Detector[] = [
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
    may: (t, shape) => shape.longestRun >= 14 && KEY_MARKS.some((mark) => t.includes(mark)),
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
    may: (t, shape) => shape.digits >= 2 && /[A-Z]{2}\d\d/.test(t),
    accept: acceptIban,
  },
  {
    name: 'CARD',
    pattern: /(?<![\d.])(?:\d[ -]?){12,18}\d(?!\d)/g,
    may: (_, shape) => shape.digits >= 13,
    accept: (m) => {
      const digits = m.replace(/[ -]/g, '');
      return digits.length >= 13 && luhnValid(digits) ? m : undefined;
    },
  },
  {
    name: 'IP',
    pattern: /(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)/g,
    may: (t, shape) => shape.digits >= 4 && t.includes('.'),
    accept: (m) => (ipaddr.IPv4.isValidFourPartDecimal(m) ? m : undefined),
  },
  {
    // IPv6: two colons at least, checked by ipaddr.js (`12:30:45` is a time, not an address).
    name: 'IP',
    pattern: /(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])/g,
    may: (t) => t.includes('::') || /[0-9A-Fa-f]:[0-9A-Fa-f]*:/.test(t),
    accept: (m) => (/[0-9A-Fa-f]/.test(m) && ipaddr.IPv6.isValid(m) ? m : undefined),
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
    may: (_, shape) => shape.digits >= 8,
    accept: (m) => {
      const digits = m.replace(/\D/g, '').length;
      return digits >= 8 && digits <= 15 ? m : undefined;
    },
  },
  {
    name: 'SECRET',
    pattern: /(?<![\w+/=-])(?:[0-9a-fA-F]{32,}|[\w+/-]{40,}={0,2})(?![\w+/=-])/g,
    may: (_, shape) => shape.longestRun >= 32,
    accept: (m) => {
      if (/^[0-9a-fA-F]+$/.test(m)) return /\d/.test(m) && /[a-fA-F]/.test(m) ? m : undefined;
      const mixed = /\d/.test(m) && /[a-z]/.test(m) && /[A-Z]/.test(m);
      return mixed && entropy(m) >= 4.3 && !wordy(m) ? m : undefined;
    },
  },
];
