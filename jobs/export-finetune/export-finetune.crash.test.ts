import { createHash } from 'node:crypto';
import { readdir, utimes } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FinetuneManifest } from '../../shared/finetune/manifest.ts';
import { testEnv } from '../../test/fixtures/config.ts';
import { useFinetuneExport } from '../../test/fixtures/finetune.ts';
import { recordPair } from '../../test/fixtures/generations.ts';
import { spawnNode } from '../../test/fixtures/processes.ts';

const now = Date.now();
const at = (minute: number) => new Date(now - 3 * 3_600_000 + minute * 60_000);
const prefix = `finetune/summary/${new Date(now).toISOString().slice(0, 10)}/`;

describe('export-finetune killed half way', () => {
  const h = useFinetuneExport();
  let first: FinetuneManifest;

  /** The set as a reader finds it: the manifest, and whether every file it names matches. */
  const publishedSet = async () => {
    const text = await h.read(`${prefix}manifest.json`);
    if (!text) return undefined;
    const manifest = JSON.parse(text) as FinetuneManifest;
    for (const file of manifest.files) {
      const bytes = Buffer.from((await h.read(file.key)) ?? '', 'utf8');
      expect(createHash('sha256').update(bytes).digest('hex'), file.key).toBe(file.sha256);
      expect(bytes.length).toBe(file.bytes);
      if (file.lines !== undefined) expect(await h.lines(file.key)).toHaveLength(file.lines);
    }
    return manifest;
  };

  const dieAt = async (step: string) => {
    const dying = spawnNode('finetune-then-die', 'test/fixtures/finetune-then-die.ts', [], {
      ...testEnv({
        DATABASE_URL: h.database.url,
        STORAGE_URL: `file:${h.dir}/objects`,
        COLD_CACHE_DIR: `${h.dir}/cache`,
        EXPORT_WORK_DIR: `${h.dir}/work`,
        OLLAMA_URL: h.ollama.url,
        DUCKDB_THREADS: '1',
      }),
      TASK: 'summary',
      DIE_AT: step,
    });
    expect(await dying.exited).toMatchObject({ signal: 'SIGKILL' });
    expect(dying.output()).toContain(`after ${step}; killing myself`);
  };

  beforeAll(async () => {
    for (let i = 0; i < 12; i++) {
      await recordPair(h.database.db, {
        at: at(i),
        prompt: `Summarise note ${i}`,
        answer: `Note ${i}.`,
      });
    }
    first = await h.run({ task: 'summary', since: '7d' });
    // New rows since: the next export's files differ from the first's.
    for (let i = 12; i < 20; i++) {
      await recordPair(h.database.db, {
        at: at(i),
        prompt: `Summarise note ${i}`,
        answer: `Note ${i}.`,
      });
    }
  });

  it('keeps the previous set whole when killed before the first upload', async () => {
    await dieAt('staged');
    expect(await publishedSet()).toEqual(first);
  });

  it('leaves no manifest to pair with new files when killed mid-upload, and a rerun writes one complete set', async () => {
    await dieAt('uploaded train.jsonl');
    // The old manifest went before the first file was replaced: no reader sees a mixed set.
    expect(await h.read(`${prefix}manifest.json`)).toBeUndefined();
    expect((await h.lines(`${prefix}train.jsonl`)).length).not.toBe(first.counts.split.train);

    const rerun = await h.run({ task: 'summary', since: '7d' });
    expect(await publishedSet()).toEqual(rerun);
    expect(rerun.counts.written).toBe(20);
    const examples = [
      ...(await h.lines(`${prefix}train.jsonl`)),
      ...(await h.lines(`${prefix}validation.jsonl`)),
    ];
    expect(new Set(examples).size).toBe(20);
    expect(await h.keys(prefix)).toEqual(
      ['Modelfile', 'manifest.json', 'train.jsonl', 'validation.jsonl'].map((f) => prefix + f),
    );
  });

  it('removes what killed runs staged once it is stale', async () => {
    const work = path.join(h.dir, 'work');
    const left = (await readdir(work)).filter((n) => n.startsWith('finetune-'));
    expect(left).toHaveLength(2); // the two killed runs'
    const old = new Date(Date.now() - 7 * 3_600_000);
    for (const name of left) await utimes(path.join(work, name), old, old);
    await h.run({ task: 'summary', since: '7d' });
    expect((await readdir(work)).filter((n) => n.startsWith('finetune-'))).toEqual([]);
  });
});
