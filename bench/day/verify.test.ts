import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ensurePartitions } from '../../shared/db/partitions.ts';
import { seedGenerations } from '../../test/fixtures/generations.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { pingId } from './pings.ts';
import { checkGenerations, checkPings } from './verify.ts';

const database = useTestDatabase();
const AT = '2026-12-01T10:00:00Z';

describe("the day's verification", () => {
  it('finds an accepted generation without a row, a job with two rows, and failed ones', async () => {
    const [once, twice, failed, lost] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const row = (id: string, status: 'completed' | 'failed' = 'completed') => ({
      id,
      at: AT,
      request: { prompt: 'hi' },
      response: 'hello',
      status,
    });
    await seedGenerations(database.db, [row(once), row(twice), row(failed, 'failed')]);
    await seedGenerations(database.db, [row(twice)], 'generations_late');
    expect(await checkGenerations(database.db, [once, twice, failed, lost])).toEqual({
      accepted: 4,
      lost: 1,
      duplicated: 1,
      failed: 1,
    });
  });

  it("counts the run's pings by their ids only: not another seed's, the previous day's or a negative number's", async () => {
    await ensurePartitions(database.db, { from: new Date(AT), days: 1 });
    const ms = Date.parse(AT);
    const ping = (id: string) => ({
      ping_id: id,
      device_id: 'device-1',
      user_id: 'user-1',
      ts: AT,
      metric: 'app.heartbeat',
      value: 1,
    });
    const ours = [pingId(9, 1, 0, ms), pingId(9, 1, 1, ms), pingId(9, 2, 0, ms)];
    await database.db
      .insertInto('telemetry')
      .values([
        ...ours.map(ping),
        ping(pingId(10, 1, 0, ms)),
        ping(pingId(9, 1, -1, ms)),
        ping(randomUUID()),
      ])
      .execute();
    await database.db
      .insertInto('telemetry_late')
      .values(ping(ours[0] as string))
      .execute();
    // Four accepted, three stored, one of them twice.
    expect(await checkPings(database.db, 9, 4)).toEqual({
      accepted: 4,
      stored: 3,
      lost: 1,
      unacknowledged: 0,
      duplicated: 1,
    });
  });
});
