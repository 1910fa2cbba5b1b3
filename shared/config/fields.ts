import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { decodeSecretKey, SECRET_KEY_BYTES } from '../secrets/secret-key.ts';
import { parseDuration } from './duration.ts';

/** A duration such as `30s` or `7d`, parsed to milliseconds. */
export const duration = () =>
  z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: 'is not a duration like 30s, 5m or 7d' });
      return z.NEVER;
    }
    return ms;
  });

/** `true/false/1/0/yes/no`, case-insensitive. `z.coerce.boolean` would read "false" as true. */
export const flag = () =>
  z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' }))
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

export const port = () => z.coerce.number().int().min(0).max(65_535);

export const url = (protocols: string[]) =>
  z.string().refine(
    (text) => {
      try {
        return protocols.includes(new URL(text).protocol.replace(/:$/, ''));
      } catch {
        return false;
      }
    },
    { message: `must be a URL starting with ${protocols.map((p) => `${p}://`).join(' or ')}` },
  );

/**
 * A comma-separated list of URLs (one is a list too), each starting with one of `protocols`;
 * an error names the entry to fix. Duplicates are refused: one server listed twice would take
 * twice its share.
 */
export const urlList = (protocols: string[]) =>
  z
    .string()
    .transform((text) =>
      text
        .split(',')
        .map((entry) => entry.trim())
        .filter((entry) => entry !== ''),
    )
    .superRefine((entries, ctx) => {
      if (entries.length === 0) ctx.addIssue({ code: 'custom', message: 'must name a URL' });
      const seen = new Set<string>();
      for (const entry of entries) {
        let parsed: URL | undefined;
        try {
          parsed = new URL(entry);
        } catch {}
        if (!parsed || !protocols.includes(parsed.protocol.replace(/:$/, ''))) {
          ctx.addIssue({
            code: 'custom',
            message: `entry "${entry}" must be a URL starting with ${protocols.map((p) => `${p}://`).join(' or ')}`,
          });
        } else if (seen.has(parsed.href)) {
          ctx.addIssue({ code: 'custom', message: `entry "${entry}" is listed twice` });
        } else seen.add(parsed.href);
      }
    });

export const timeZone = () =>
  z.string().refine(
    (tz) => {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    },
    { message: 'must be an IANA time zone such as UTC or Europe/Berlin' },
  );

/** A cron pattern (5 or 6 fields), checked with the parser BullMQ's job schedulers use. */
export const cron = () =>
  z.string().refine(
    (pattern) => {
      try {
        CronExpressionParser.parse(pattern);
        return pattern.trim().split(/\s+/).length >= 5;
      } catch {
        return false;
      }
    },
    { message: 'must be a cron pattern such as "30 0 * * *"' },
  );

/** JSON text whose parsed value matches `schema`. */
export const json = <S extends z.ZodType>(schema: S) =>
  z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not valid JSON' });
        return z.NEVER;
      }
    })
    .pipe(schema);

/** A JSON object whose values match `value`, e.g. a price table. */
export const jsonRecord = <V extends z.ZodType>(value: V) => json(z.record(z.string(), value));

/** An encryption key: the base64 of exactly 32 bytes, decoded (`openssl rand -base64 32`). */
export const secretKey = () =>
  z.string().transform((text, ctx) => {
    const key = decodeSecretKey(text);
    if (!key) {
      ctx.addIssue({
        code: 'custom',
        message: `must be the base64 of exactly ${SECRET_KEY_BYTES} random bytes, e.g. from \`openssl rand -base64 ${SECRET_KEY_BYTES}\``,
      });
      return z.NEVER;
    }
    return key;
  });
