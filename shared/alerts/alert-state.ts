import { sql } from 'kysely';
import type { Db } from '../db/create-db.ts';

/** An `alerts` row whose triggered or resolved event has not been sent yet. */
export interface UnsentAlert {
  condition: string;
  day: string;
  firedAt: Date;
  details: Record<string, unknown>;
  triggeredSent: boolean;
  resolvedAt: Date | null;
  resolvedDetails: Record<string, unknown> | null;
}

/**
 * Opens an alert for `condition` on `day` unless one is open (fired on an earlier day and not
 * resolved) or one already fired that day. Two workers opening it at once: one row.
 * @returns whether this call opened it.
 */
export async function openAlert(
  db: Db,
  alert: { condition: string; day: string; details: Record<string, unknown>; at: Date },
): Promise<boolean> {
  // No conflict target: either unique index (the day's row, the one open row) means "no".
  const inserted = await db
    .insertInto('alerts')
    .values({
      condition: alert.condition,
      day: alert.day,
      fired_at: alert.at,
      details: JSON.stringify(alert.details),
    })
    .onConflict((oc) => oc.doNothing())
    .returning('condition')
    .executeTakeFirst();
  return inserted !== undefined;
}

/** Resolves the open alert of `condition`, if there is one. @returns whether this call did. */
export async function resolveAlert(
  db: Db,
  alert: { condition: string; details: Record<string, unknown>; at: Date },
): Promise<boolean> {
  const updated = await db
    .updateTable('alerts')
    .set({ resolved_at: alert.at, resolved_details: JSON.stringify(alert.details) })
    .where('condition', '=', alert.condition)
    .where('resolved_at', 'is', null)
    .returning('condition')
    .executeTakeFirst();
  return updated !== undefined;
}

/** Alerts with an event still to send, oldest first. */
export async function unsentAlerts(db: Db): Promise<UnsentAlert[]> {
  const rows = await db
    .selectFrom('alerts')
    .select([
      'condition',
      sql<string>`day::text`.as('day'),
      'fired_at',
      'details',
      'triggered_sent_at',
      'resolved_at',
      'resolved_details',
    ])
    .where((eb) =>
      eb.or([
        eb('triggered_sent_at', 'is', null),
        eb.and([eb('resolved_at', 'is not', null), eb('resolved_sent_at', 'is', null)]),
      ]),
    )
    .orderBy('fired_at')
    .execute();
  return rows.map((r) => ({
    condition: r.condition,
    day: r.day,
    firedAt: r.fired_at,
    details: r.details,
    triggeredSent: r.triggered_sent_at !== null,
    resolvedAt: r.resolved_at,
    resolvedDetails: r.resolved_details,
  }));
}

/**
 * Marks an alert's triggered or resolved event sent. @returns whether this call marked it, so
 * of two workers sending the same event only one logs it.
 */
export async function markSent(
  db: Db,
  alert: { condition: string; day: string },
  event: 'triggered' | 'resolved',
): Promise<boolean> {
  const column = event === 'triggered' ? 'triggered_sent_at' : 'resolved_sent_at';
  const updated = await db
    .updateTable('alerts')
    .set({ [column]: new Date() })
    .where('condition', '=', alert.condition)
    .where('day', '=', alert.day)
    .where(column, 'is', null)
    .returning('condition')
    .executeTakeFirst();
  return updated !== undefined;
}

/** The conditions with an open (unresolved) alert. */
export async function openConditions(db: Db): Promise<string[]> {
  const rows = await db
    .selectFrom('alerts')
    .select('condition')
    .where('resolved_at', 'is', null)
    .execute();
  return rows.map((r) => r.condition);
}

/** The alerts fired or resolved on a UTC day (the digest's list). */
export async function alertsOfDay(
  db: Db,
  day: string,
): Promise<{ fired: string[]; resolved: string[] }> {
  // The day's bounds in UTC, whatever the session's time zone.
  const { rows } = await sql<{ condition: string; fired: boolean; resolved: boolean }>`
    WITH d AS (SELECT ${day}::date::timestamp AT TIME ZONE 'UTC' AS start)
    SELECT condition,
           fired_at >= d.start AND fired_at < d.start + interval '1 day' AS fired,
           coalesce(resolved_at >= d.start AND resolved_at < d.start + interval '1 day', false)
             AS resolved
    FROM alerts, d
    WHERE (fired_at >= d.start AND fired_at < d.start + interval '1 day')
       OR (resolved_at >= d.start AND resolved_at < d.start + interval '1 day')
    ORDER BY fired_at, condition`.execute(db);
  return {
    fired: rows.filter((r) => r.fired).map((r) => r.condition),
    resolved: rows.filter((r) => r.resolved).map((r) => r.condition),
  };
}
