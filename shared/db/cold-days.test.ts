import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { claimDayForExport, coldDaysForWrite } from './cold-days.ts';
import { ensurePartitions, listPartitions } from './partitions.ts';

describe('handing a day to the cold export', () => {
  const database = useTestDatabase();

  it('sends later writes of a claimed day to the late table, and claims once', async () => {
    const { db } = database;
    expect(await claimDayForExport(db, 'telemetry', '2026-09-01')).toBe(true);
    expect(await claimDayForExport(db, 'telemetry', '2026-09-01')).toBe(false);
    const cold = await db
      .transaction()
      .execute((trx) => coldDaysForWrite(trx, 'telemetry', ['2026-09-01', '2026-09-02']));
    expect([...cold]).toEqual(['2026-09-01']);
    // Per table: generations of that day are still hot.
    const generations = await db
      .transaction()
      .execute((trx) => coldDaysForWrite(trx, 'generations', ['2026-09-01']));
    expect(generations.size).toBe(0);
  });

  it('never re-creates the partition of a claimed day', async () => {
    const { db } = database;
    await claimDayForExport(db, 'telemetry', '2026-09-10');
    const created = await ensurePartitions(db, {
      from: new Date('2026-09-10T00:00:00Z'),
      days: 1,
    });
    expect(created).toEqual(['generations_p20260910']);
    expect((await listPartitions(db, 'telemetry')).map((p) => p.day)).not.toContain('2026-09-10');
  });

  it('waits for a write in flight before claiming, so the export sees every row', async () => {
    const { db } = database;
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let claimed = false;
    const writer = db.transaction().execute(async (trx) => {
      const cold = await coldDaysForWrite(trx, 'telemetry', ['2026-09-20']);
      expect(cold.size).toBe(0);
      await held; // the write to the partition is in flight here
    });
    await sleep(50);
    const claim = claimDayForExport(db, 'telemetry', '2026-09-20').then((r) => {
      claimed = true;
      return r;
    });
    await sleep(300);
    expect(claimed).toBe(false);
    release();
    await writer;
    expect(await claim).toBe(true);
    // A writer arriving after the claim sees the day as cold.
    const after = await db
      .transaction()
      .execute((trx) => coldDaysForWrite(trx, 'telemetry', ['2026-09-20']));
    expect([...after]).toEqual(['2026-09-20']);
  });
});
