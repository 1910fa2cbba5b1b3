import { describe, expect, it } from 'vitest';
import type { FinetuneManifest } from '../shared/finetune/manifest.ts';
import { testEnv } from '../test/fixtures/config.ts';
import { useFinetuneExport } from '../test/fixtures/finetune.ts';
import { recordPair } from '../test/fixtures/generations.ts';
import { spawnNode } from '../test/fixtures/processes.ts';

const now = Date.now();
const prefix = (task: string) => `finetune/${task}/${new Date(now).toISOString().slice(0, 10)}/`;

describe('lowburn finetune export', () => {
  const h = useFinetuneExport();
  const run = async (args: string[]) => {
    const env = testEnv({
      DATABASE_URL: h.database.url,
      STORAGE_URL: `file:${h.dir}/objects`,
      COLD_CACHE_DIR: `${h.dir}/cache`,
      EXPORT_WORK_DIR: `${h.dir}/work`,
      OLLAMA_URL: h.ollama.url,
      DUCKDB_THREADS: '1',
    });
    const cli = spawnNode(
      'lowburn finetune',
      'workers/cli.ts',
      ['finetune', 'export', ...args],
      env,
    );
    const { code } = await cli.exited;
    return { code, output: cli.output() };
  };

  it('writes the files and says what it kept and dropped', async () => {
    for (let i = 0; i < 14; i++) {
      await recordPair(h.database.db, {
        at: new Date(now - 3_600_000 + i * 1000),
        prompt: `Summarise mail ${i} from ann@example.com`,
        answer: `Mail ${i}.`,
      });
    }
    const text = await run(['--task', 'summary', '--since', '1d']);
    expect(text.code).toBe(0);
    expect(text.output).toMatch(
      new RegExp(
        `^${prefix('summary')}: \\d+ training and \\d+ validation examples \\(openai\\)\n`,
      ),
    );
    expect(text.output).toContain('read 14 rows (fallback_error 14), 14 after dedup');
    expect(text.output).toContain('scrubbed: EMAIL 14 in 14 examples');
    expect(text.output).toMatch(/OpenAI would train \d+ epochs? and bill ~[\d,]+ tokens/);
    expect(text.output).toContain('ollama create <name> -f Modelfile');
    expect(await h.keys(prefix('summary'))).toHaveLength(4);

    const json = await run([
      '--task',
      'summary',
      '--since',
      '1d',
      '--format',
      'sharegpt',
      '--json',
    ]);
    const manifest = JSON.parse(json.output) as FinetuneManifest;
    expect(manifest).toMatchObject({ lineFormat: 'sharegpt', counts: { written: 14 } });
  });

  it('exits 1 naming the failed check when it refuses, 2 on a bad option', async () => {
    const refused = await run(['--task', 'qa', '--since', '1d']);
    expect(refused).toMatchObject({
      code: 1,
      output: expect.stringContaining(
        'lowburn finetune export: refusing to write the fine-tune files: 0 training examples (too_few_examples',
      ),
    });
    const bad = await run(['--since', 'yesterday']);
    expect(bad.code).toBe(2);
    expect(bad.output).toContain('since: must be a duration like 30d, a day like 2026-11-01');
    const unknown = await run(['--include', 'everything']);
    expect(unknown.code).toBe(2);
    expect(unknown.output).toContain('include.0');
  });
});
