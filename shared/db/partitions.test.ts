import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { ensurePartitions, listPartitions, partitionName } from './partitions.ts';

describe('ensurePartitions', () => {
  const pg = useTestDatabase();

  it('creates each day once; a second run creates nothing', async () => {
    const from = new Date('2026-03-01T18:30:00Z');
    const first = await ensurePartitions(pg.db, { from, days: 3 });
    expect(first).toEqual([
      'telemetry_p20260301',
      'telemetry_p20260302',
      'telemetry_p20260303',
      'generations_p20260301',
      'generations_p20260302',
      'generations_p20260303',
    ]);
    expect(await ensurePartitions(pg.db, { from, days: 3 })).toEqual([]);
    expect(await listPartitions(pg.db, 'telemetry')).toEqual([
      { name: 'telemetry_p20260301', day: '2026-03-01' },
      { name: 'telemetry_p20260302', day: '2026-03-02' },
      { name: 'telemetry_p20260303', day: '2026-03-03' },
    ]);
  });

  it('bounds each partition by the UTC day', async () => {
    await ensurePartitions(pg.db, {
      from: new Date('2026-04-10T00:00:00Z'),
      days: 1,
      tables: ['telemetry'],
    });
    const ping = (ts: string) =>
      pg.db
        .insertInto('telemetry')
        .values({
          ping_id: crypto.randomUUID(),
          device_id: 'd',
          ts,
          metric: 'm',
          value: 1,
          attrs: null,
        })
        .execute();
    await ping('2026-04-10T00:00:00Z');
    await ping('2026-04-10T23:59:59.999Z');
    await expect(ping('2026-04-11T00:00:00Z')).rejects.toThrow(/no partition/);
    const rows = await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM ${sql.table(partitionName('telemetry', '2026-04-10'))}`.execute(
      pg.db,
    );
    expect(rows.rows[0]?.n).toBe(2);
  });

  it('lets many callers race without an error or a duplicate', async () => {
    const from = new Date('2026-05-01T00:00:00Z');
    const results = await Promise.all(
      Array.from({ length: 4 }, () => ensurePartitions(pg.db, { from, days: 5 })),
    );
    expect(results.flat()).toHaveLength(10);
  });
});
