import path from 'node:path';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { testExportOptions } from '../../test/fixtures/cold.ts';
import { recordHotDoneErasure } from '../../test/fixtures/erasure-cold.ts';
import { useFinetuneExport } from '../../test/fixtures/finetune.ts';
import { recordPair } from '../../test/fixtures/generations.ts';
import { exportCold } from '../export-cold/export-cold.ts';

const DAY = 86_400_000;
const now = Date.now();
const cold = (minute: number) => new Date(now - 3 * DAY + minute * 60_000);
const hot = (minute: number) => new Date(now - 90 * 60_000 + minute * 60_000);
const prefix = `finetune/summary/${new Date(now).toISOString().slice(0, 10)}/`;

describe('export-finetune and an open erasure', () => {
  const h = useFinetuneExport();

  beforeAll(async () => {
    // Pairs of two users, hot and cold; `leaver` asks for erasure before the export runs.
    const ids: Record<string, string[]> = { stayer: [], leaver: [] };
    for (let i = 0; i < 24; i++) {
      const who = i % 2 === 0 ? 'stayer' : 'leaver';
      ids[who]?.push(
        await recordPair(h.database.db, {
          at: cold(i),
          prompt: `Summarise ${who} cold note ${i}`,
        }),
      );
      ids[who]?.push(
        await recordPair(h.database.db, { at: hot(i), prompt: `Summarise ${who} hot note ${i}` }),
      );
    }
    await sql`UPDATE generations SET user_id = 'leaver' WHERE id = ANY(${ids.leaver})`.execute(
      h.database.db,
    );
    await exportCold(
      testExportOptions(h.database, h.storage, path.join(h.dir, 'export'), {
        tables: ['generations'],
      }),
    );
    // Recorded, its hot side done, its cold side not yet: the user is still in the cold files.
    await recordHotDoneErasure(h.database.db, 'leaver');
  });

  it('leaves the user out of hot and cold rows alike', async () => {
    const manifest = await h.run({ task: 'summary', since: '7d' });
    const lines = [
      ...(await h.lines(`${prefix}train.jsonl`)),
      ...(await h.lines(`${prefix}validation.jsonl`)),
    ];
    expect(manifest.counts.written).toBe(24);
    expect(lines).toHaveLength(24);
    expect(lines.filter((l) => l.includes('leaver'))).toEqual([]);
    expect(lines.filter((l) => l.includes('stayer cold'))).toHaveLength(12);
    expect(lines.filter((l) => l.includes('stayer hot'))).toHaveLength(12);
  });
});
