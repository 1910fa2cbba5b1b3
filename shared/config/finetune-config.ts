import { z } from 'zod';

/** Sources the fine-tune export can add to the fallback pairs it always reads. */
export const finetuneIncludes = ['frontier-routed', 'local-validated'] as const;
export type FinetuneInclude = (typeof finetuneIncludes)[number];

/** One of the app's own identifiers to scrub, as `FINETUNE_SCRUB_PATTERNS` names it. */
export interface ScrubPattern {
  /** The PII class and placeholder name: `ORDER_ID` becomes `<ORDER_ID>`. */
  name: string;
  /** Global, so one pass replaces every occurrence. */
  pattern: RegExp;
}

/** The weekly fine-tune data export (`export-finetune`). */
export interface FinetuneConfig {
  cron: string;
  /** How far back an export reads when not told (`--since`). */
  windowMs: number;
  /** Sources added to the fallback pairs by default. */
  include: FinetuneInclude[];
  /** Examples over this many tokens are dropped (and counted), never truncated. */
  maxTokens: number;
  scrubPatterns: ScrubPattern[];
}

const CLASS_NAME = /^[A-Z][A-Z0-9_]{0,31}$/;

/** `frontier-routed,local-validated` (either, both, or neither). */
export const includeList = () =>
  z.string().transform((text, ctx) => {
    const names = text
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    for (const name of names) {
      if (!(finetuneIncludes as readonly string[]).includes(name)) {
        ctx.addIssue({
          code: 'custom',
          message: `"${name}" is not one of ${finetuneIncludes.join(', ')}`,
        });
        return z.NEVER;
      }
    }
    return [...new Set(names)] as FinetuneInclude[];
  });

/**
 * A JSON object of class name → regular expression, e.g. `{"ORDER_ID":"ord_[0-9a-z]{12}"}`:
 * names are upper-case placeholders; a pattern must compile and must not match the empty text
 * (it would put a placeholder between every two characters).
 */
export const scrubPatterns = () =>
  z.string().transform((text, ctx): ScrubPattern[] => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'is not valid JSON' });
      return z.NEVER;
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object of NAME → regex' });
      return z.NEVER;
    }
    const patterns: ScrubPattern[] = [];
    for (const [name, source] of Object.entries(parsed)) {
      const problem = patternProblem(name, source);
      if (problem) {
        ctx.addIssue({ code: 'custom', message: problem });
        return z.NEVER;
      }
      patterns.push({ name, pattern: new RegExp(source as string, 'g') });
    }
    return patterns;
  });

function patternProblem(name: string, source: unknown): string | undefined {
  if (!CLASS_NAME.test(name)) return `"${name}" must be an upper-case name like ORDER_ID`;
  if (typeof source !== 'string') return `${name}: the pattern must be a string`;
  let pattern: RegExp;
  try {
    pattern = new RegExp(source);
  } catch (error) {
    return `${name}: ${(error as Error).message}`;
  }
  if (pattern.test('')) return `${name}: the pattern matches the empty text`;
  return undefined;
}
