import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { finalize } from './finalize.ts';
import { createScrubber } from './scrub.ts';
import type { SourceRow } from './source.ts';
import { stageExamples } from './stage.ts';

/** Source rows as the DuckDB stream gives them, in chunks. */
async function* chunks(rows: SourceRow[][]) {
  for (const chunk of rows) yield chunk;
}

const row = (prompt: string, answer: string, at: number): SourceRow => ({
  request: JSON.stringify({ taskType: 'summary', prompt }),
  answer,
  kind: 'fallback_error',
  at,
});

const lines = async (file: string) =>
  (await readFile(file, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { messages: { content: string }[] });

describe('staging examples in one pass', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'lowburn-stage-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const stage = (rows: SourceRow[][]) =>
    stageExamples(chunks(rows), {
      dir,
      scrubber: createScrubber(),
      maxTokens: 1000,
      format: 'openai',
    });

  it('keeps the newest of prompts identical once scrubbed, whichever comes first', async () => {
    // Older first (its line is staged, then superseded), and newer first (the older one is
    // never staged), across two chunks.
    const staged = await stage([
      [
        row('Mail anna@example.com', 'old a', 1_000),
        row('Call +44 20 7946 0958', 'new b', 5_000),
        ...Array.from({ length: 30 }, (_, i) => row(`Question ${i}?`, `Answer ${i}.`, 2_000)),
      ],
      [row('Mail bob@example.org', 'new a', 2_000), row('Call +1 202 555 0173', 'old b', 3_000)],
    ]);
    expect(staged.duplicateAfterScrub).toBe(2);
    expect(staged.superseded.size).toBe(1);
    const done = await finalize(staged, { dir });
    expect(done.train.lines + done.validation.lines).toBe(32);
    const kept = [...(await lines(done.train.path)), ...(await lines(done.validation.path))];
    expect(kept).toHaveLength(32);
    const answers = kept.map((l) => l.messages.at(-1)?.content);
    expect(answers).toEqual(expect.arrayContaining(['new a', 'new b']));
    expect(answers).not.toContain('old a');
    expect(answers).not.toContain('old b');
    expect(done.writtenByKind).toEqual({ fallback_error: 32 });
    expect(done.trainTokens.count + done.validationTokens.count).toBe(32);
  });

  it('hashes and counts the rewritten file as it is', async () => {
    const staged = await stage([
      [
        ...Array.from({ length: 40 }, (_, i) => row(`Ask ${i}`, `Reply ${i}`, 10)),
        ...Array.from({ length: 40 }, (_, i) => row(`Ask ${i}`, `Later ${i}`, 20)),
      ],
    ]);
    expect(staged.superseded.size).toBe(40);
    const done = await finalize(staged, { dir });
    for (const file of [done.train, done.validation]) {
      const text = await readFile(file.path);
      expect(file.bytes).toBe(text.length);
      expect(file.lines).toBe(text.toString().split('\n').filter(Boolean).length);
      expect(file.sha256).toBe(createHash('sha256').update(text).digest('hex'));
    }
    const kept = [...(await lines(done.train.path)), ...(await lines(done.validation.path))];
    expect(kept.map((l) => l.messages.at(-1)?.content).sort()).toEqual(
      Array.from({ length: 40 }, (_, i) => `Later ${i}`).sort(),
    );
  });
});
