import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FinetuneRefusedError } from '../../shared/errors/finetune-refused-error.ts';
import { testExportOptions } from '../../test/fixtures/cold.ts';
import { useFinetuneExport } from '../../test/fixtures/finetune.ts';
import { canaries, residualCanaries } from '../../test/fixtures/finetune-canaries.ts';
import { recordPair } from '../../test/fixtures/generations.ts';
import { exportCold } from '../export-cold/export-cold.ts';
import { promptKey as keyOf } from './examples.ts';

const DAY = 86_400_000;
const now = Date.now();
const at = (daysAgo: number, minute: number) => new Date(now - daysAgo * DAY + minute * 60_000);
const today = new Date(now).toISOString().slice(0, 10);

type Line = { messages: { role: 'system' | 'user' | 'assistant'; content: string }[] };

describe('export-finetune cleaning', () => {
  const h = useFinetuneExport({ FINETUNE_SCRUB_PATTERNS: '{"ORDER_ID":"ord_[0-9a-z]{12}"}' });
  const db = () => h.database.db;
  const files = async (task: string) => {
    const prefix = `finetune/${task}/${today}/`;
    const parse = (lines: string[]) => lines.map((l) => JSON.parse(l) as Line);
    return {
      train: parse(await h.lines(`${prefix}train.jsonl`)),
      validation: parse(await h.lines(`${prefix}validation.jsonl`)),
    };
  };

  it('dedups by normalised conversation before the split, keeping the newest answer, with no prompt on both sides', async () => {
    // 60 prompts asked three times each: three days ago (cold), yesterday and today (hot),
    // spelt with other whitespace; only today's answer may be written.
    for (let i = 0; i < 60; i++) {
      const text = `Translate to German: parcel ${i} is late`;
      await recordPair(db(), {
        at: at(3, i),
        taskType: 'translation',
        prompt: text,
        answer: `old ${i}`,
      });
      await recordPair(db(), {
        at: at(1, i),
        taskType: 'translation',
        prompt: `  ${text.replaceAll(' ', '  ')}`,
        answer: `older ${i}`,
      });
      await recordPair(db(), {
        at: at(0, -120 + i),
        taskType: 'translation',
        prompt: `${text}\n`,
        answer: `Paket ${i} ist spät.`,
      });
    }
    // Two prompts that differ only in an e-mail address are one prompt once scrubbed.
    await recordPair(db(), {
      at: at(0, -10),
      taskType: 'translation',
      prompt: 'Translate: mail anna@example.com',
      answer: 'Schreib an anna@example.com',
    });
    await recordPair(db(), {
      at: at(0, -5),
      taskType: 'translation',
      prompt: 'Translate: mail bob@example.org',
      answer: 'Schreib an bob@example.org',
    });
    await exportCold(
      testExportOptions(h.database, h.storage, path.join(h.dir, 'export'), {
        tables: ['generations'],
      }),
    );

    const manifest = await h.run({ task: 'translation', since: '7d' });
    expect(manifest.counts).toMatchObject({
      read: 182,
      deduped: 62,
      written: 61,
      dropped: { duplicateAfterScrub: 1 },
    });
    const { train, validation } = await files('translation');
    const answers = [...train, ...validation].map((l) => l.messages.at(-1)?.content);
    for (let i = 0; i < 60; i++) expect(answers).toContain(`Paket ${i} ist spät.`);
    expect(answers.join('\n')).not.toMatch(/\bold(er)? \d/);
    expect(answers).toContain('Schreib an <EMAIL>');
    expect(answers).not.toContain('Schreib an anna@example.com');

    const key = (l: Line) => keyOf(l.messages.slice(0, -1));
    const validationKeys = new Set(validation.map(key));
    expect(train.filter((l) => validationKeys.has(key(l)))).toEqual([]);
    expect(manifest.split.overlap).toBe(0);
    expect(validation.length).toBeGreaterThan(0);
    expect(validation.length).toBeLessThan(15);
  });

  it('removes every canary from system, user and assistant messages and JSON answers, counting each class', async () => {
    const roles = ['system', 'user', 'history', 'answer', 'json'] as const;
    const expected: Record<string, number> = { ORDER_ID: 1, CARD: 1 };
    for (const [i, canary] of canaries.entries()) {
      const where = roles[i % roles.length];
      const text = `record ${i}: ${canary.text} (end)`;
      expected[canary.class] = (expected[canary.class] ?? 0) + 1;
      await recordPair(db(), {
        at: at(0, -200 + i),
        taskType: 'extraction',
        messages: [
          ...(where === 'system' ? [{ role: 'system' as const, content: `Context ${text}` }] : []),
          ...(where === 'history'
            ? [
                { role: 'user' as const, content: `Earlier question ${i}` },
                { role: 'assistant' as const, content: `Earlier answer ${text}` },
              ]
            : []),
          { role: 'user', content: where === 'user' ? `Extract ${text}` : `Extract record ${i}` },
        ],
        ...(where === 'json' && { responseFormat: { type: 'object' } }),
        answer:
          where === 'answer'
            ? `Found ${text}`
            : where === 'json'
              ? JSON.stringify({ record: i, value: canary.text, nested: [{ again: 'no' }] })
              : `Nothing in record ${i}.`,
      });
    }
    // A card number as a JSON number, and one of the app's own identifiers.
    await recordPair(db(), {
      at: at(0, -30),
      taskType: 'extraction',
      prompt: 'Extract the card',
      responseFormat: { type: 'object' },
      answer: '{"card": 4111111111111111, "ok": true}',
    });
    await recordPair(db(), {
      at: at(0, -29),
      taskType: 'extraction',
      prompt: 'Refund ord_8f3k2m9x1q7z',
      answer: 'Refunded.',
    });
    // Secrets the scrubber cannot replace: their rows are dropped, whichever message holds them.
    for (const [i, residual] of residualCanaries.entries()) {
      await recordPair(db(), {
        at: at(0, -20 + i),
        taskType: 'extraction',
        prompt: `Leak ${i}`,
        answer: residual.text,
      });
    }

    const manifest = await h.run({ task: 'extraction', since: '1d' });
    const { train, validation } = await files('extraction');
    const written = JSON.stringify([...train, ...validation]);
    for (const canary of canaries) expect(written).not.toContain(canary.secret ?? canary.text);
    expect(written).not.toContain('4111111111111111');
    expect(written).not.toContain('ord_8f3k2m9x1q7z');
    for (const residual of residualCanaries) expect(written).not.toContain(residual.text);
    expect(manifest.counts.scrubbed).toEqual(expected);
    expect(manifest.counts.dropped.secret).toEqual({
      PRIVATE_KEY: 1,
      BEARER_TOKEN: 1,
      ASSIGNED_SECRET: 1,
      API_KEY: 1,
    });
    expect(manifest.counts.written).toBe(canaries.length + 2);
    // JSON answers stay JSON, with placeholders where the values were.
    const json = [...train, ...validation]
      .map((l) => l.messages.at(-1)?.content ?? '')
      .filter((c) => c.startsWith('{'));
    for (const answer of json) expect(() => JSON.parse(answer)).not.toThrow();
    expect(json).toContain('{"card":"<CARD>","ok":true}');
  });

  it('drops and counts examples over FINETUNE_MAX_TOKENS, never truncating them', async () => {
    for (let i = 0; i < 12; i++) {
      await recordPair(db(), {
        at: at(0, -60 + i),
        taskType: 'generation',
        prompt: `Write a line about ${i}`,
        answer: `Line ${i}.`,
      });
    }
    const long = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
    await recordPair(db(), {
      at: at(0, -40),
      taskType: 'generation',
      prompt: `Long: ${long}`,
      answer: 'ok',
    });
    await recordPair(db(), {
      at: at(0, -39),
      taskType: 'generation',
      prompt: 'Short',
      answer: long,
    });
    const manifest = await h.run({ task: 'generation', since: '1d' }, { maxTokens: 200 });
    expect(manifest.counts.dropped.overMaxTokens).toBe(2);
    expect(manifest.counts.written).toBe(12);
    expect(manifest.tokens.maxTokens).toBe(200);
    expect(manifest.tokens.train.perExample?.max).toBeLessThanOrEqual(200);
  });

  describe('refuses before anything is written', () => {
    it('with fewer than ten training examples, saying how many', async () => {
      for (let i = 0; i < 3; i++) {
        await recordPair(db(), {
          at: at(0, -50 + i),
          taskType: 'qa',
          prompt: `Question ${i}?`,
          answer: `Answer ${i}.`,
        });
      }
      const error = await h.run({ task: 'qa', since: '1d' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FinetuneRefusedError);
      expect((error as FinetuneRefusedError).message).toMatch(
        /refusing to write the fine-tune files: \d training examples? \(too_few_examples: at least 10 needed\)/,
      );
      expect(await h.keys('finetune/qa/')).toEqual([]);
    });

    it('when a line fails a cookbook check, naming its count', async () => {
      for (let i = 0; i < 12; i++) {
        await recordPair(db(), {
          at: at(0, -50 + i),
          taskType: 'diagnosis',
          prompt: `Why ${i}?`,
          answer: i === 5 ? '' : `Because ${i}.`,
        });
      }
      const error = await h.run({ task: 'diagnosis', since: '1d' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FinetuneRefusedError);
      expect((error as FinetuneRefusedError).counts).toEqual({ missing_content: 1 });
      expect((error as Error).message).toContain('1 example failed missing_content');
      expect(await h.keys('finetune/diagnosis/')).toEqual([]);
    });
  });
});
