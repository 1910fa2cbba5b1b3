import type { Db } from '../db/create-db.ts';
import type { Logger } from '../log/logger.ts';
import { alertsOfDay } from './alert-state.ts';
import { dayLayers } from './layer-shares.ts';
import { type OperatorEventDeps, sendOperatorEvent } from './operator-events.ts';

const round = (n: number, digits: number) => Number(n.toFixed(digits));

/** The daily digest's figures for one UTC day (the event's `data`). */
export interface Digest {
  day: string;
  /** `null` when `rollup-usage` has no row for the day. */
  cpauUsd: number | null;
  cpauTargetUsd: number | null;
  totalUsd: number | null;
  activeUsers: number | null;
  /** USD by component: tokens, fleet, database, model, storage, requests. */
  costUsd: Record<string, number> | null;
  generations: number;
  /** Share (0–1) of the day's generations per cache layer. */
  hitRates: Record<string, number>;
  localShare: number;
  fallbackShare: number;
  alerts: { fired: string[]; resolved: string[] };
}

/** Gathers a day's digest from `cost_daily`, `usage_daily` and `alerts`. */
export async function buildDigest(
  db: Db,
  day: string,
  cpauTargetUsd: number | undefined,
): Promise<Digest> {
  const [cost, layers, alerts] = await Promise.all([
    db.selectFrom('cost_daily').selectAll().where('day', '=', day).executeTakeFirst(),
    dayLayers(db, day, day),
    alertsOfDay(db, day),
  ]);
  const usage = layers[0];
  const usd = (v: unknown) => round(Number(v), 6);
  return {
    day,
    cpauUsd: cost?.cpau_usd == null ? null : usd(cost.cpau_usd),
    cpauTargetUsd: cpauTargetUsd ?? null,
    totalUsd: cost ? usd(cost.total_usd) : null,
    activeUsers: cost?.active_users ?? null,
    costUsd: cost
      ? {
          tokens: usd(cost.token_usd),
          fleet: usd(cost.fleet_usd),
          database: usd(cost.database_usd),
          model: usd(cost.model_usd),
          storage: usd(cost.storage_usd),
          requests: usd(cost.requests_usd),
        }
      : null,
    generations: usage?.generations ?? 0,
    hitRates: Object.fromEntries(
      Object.entries(usage?.hitRates ?? {}).map(([layer, rate]) => [layer, round(rate, 4)]),
    ),
    localShare: round(usage?.localShare ?? 0, 4),
    fallbackShare: round(usage?.fallbackShare ?? 0, 4),
    alerts,
  };
}

/**
 * Logs the day's digest (info) and, with `ALERT_WEBHOOK_URL`, sends it as one `digest.daily`
 * event (one delivery per day, however often this runs for it).
 */
export async function sendDigest(
  deps: OperatorEventDeps & { log: Logger },
  day: string,
): Promise<{ digest: Digest; deliveryId: string | undefined }> {
  const digest = await buildDigest(deps.db, day, deps.config.alerts.cpauTargetUsd);
  const deliveryId = await sendOperatorEvent(deps, {
    type: 'digest.daily',
    subject: `digest/${day}`,
    timestamp: new Date(),
    data: { ...digest },
  });
  deps.log.info({ digest, deliveryId }, `daily digest for ${day}`);
  return { digest, deliveryId };
}
