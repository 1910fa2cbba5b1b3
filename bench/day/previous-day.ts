// The day before the run, bulk-loaded (not through the API) so the run starts from a steady
// state: the previous day's generations, from the same seeded workload, as the generate job
// records them, and every device's pings of that day, in the 24 hours before the run starts.

import { sql } from 'kysely';
import type { Db } from '../../shared/db/create-db.ts';
import { ensurePartitions } from '../../shared/db/partitions.ts';
import { templates } from '../../shared/generation/templates.ts';
import { renderTemplate } from '../../shared/inference/templates.ts';
import { recordDay } from '../recorded-day.ts';
import type { WorkloadAsk } from '../zipf-workload.ts';
import type { DayRequest } from './workload.ts';

/** The text a request asks: its prompt, its chat's first turn, or its template rendered. */
function askedText(r: DayRequest): string {
  const { body } = r;
  if (body.prompt) return body.prompt;
  if (body.messages) return body.messages[0]?.content ?? '';
  const template = templates.get(body.template ?? '');
  if (!template) throw new Error(`the workload names an unknown template "${body.template}"`);
  return renderTemplate(template, body.params ?? {});
}

/**
 * Loads the previous day (`requests` at negative times) into the 24 hours before `runStart` (the
 * bench passes today's 00:00 UTC: yesterday, whole, as the export and the rollup see days):
 * generations at their own times and `users` devices' pings every 10 s.
 */
export async function loadPreviousDay(
  db: Db,
  options: { requests: DayRequest[]; users: number; apiKeyId: string; runStart: number },
): Promise<{ generations: number; pings: number }> {
  const previous = options.requests.filter((r) => r.at < 0);
  await ensurePartitions(db, { from: new Date(options.runStart - 86_400_000), days: 3 });
  const asks: WorkloadAsk[] = previous.map((r) => ({
    request: {
      taskType: r.body.taskType,
      messages: [{ role: 'user', content: askedText(r) }],
    },
    rank: 0,
    userId: r.userId,
  }));
  await recordDay(
    db,
    asks,
    options.apiKeyId,
    (i) => new Date(options.runStart + (previous[i]?.at ?? 0)),
  );
  const start = new Date(options.runStart - 86_400_000).toISOString();
  // One device per user, a ping every 10 s, in slices of 100 devices a statement. Ids of version
  // 4, so none is taken for a run's (version 7), that rise in the order rows are written (device,
  // then ping): the primary key's B-tree then only ever appends, where random ids made each slice
  // of 864,000 rows take ~10 s of index page splits.
  for (let d = 0; d < options.users; d += 100) {
    await sql`
      INSERT INTO telemetry (ping_id, device_id, user_id, ts, metric, value)
      SELECT (lpad(to_hex(d), 12, '0') || '4' || lpad(to_hex(k), 19, '0'))::uuid,
        'device-' || d, 'user-' || d,
        ${start}::timestamptz + ((k * 10000 + (d * 7919) % 10000) * interval '1 millisecond'),
        'app.heartbeat', k % 100
      FROM generate_series(${d}::int, ${Math.min(options.users, d + 100) - 1}::int) d,
        generate_series(0, 8639) k`.execute(db);
  }
  return { generations: previous.length, pings: options.users * 8_640 };
}
