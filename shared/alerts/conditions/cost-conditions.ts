import { utcDay } from '../../db/partitions.ts';
import type { AlertCondition } from '../alert-condition.ts';
import { cacheLayers, dayLayers, median } from '../layer-shares.ts';

const round = (n: number, digits = 4) => Number(n.toFixed(digits));

/**
 * Yesterday's CPAU (the last complete UTC day of `cost_daily`, which `rollup-usage` finishes
 * within an hour of midnight) above `CPAU_TARGET_USD`.
 */
export const cpauAboveTarget: AlertCondition = {
  id: 'cpau-above-target',
  description: "Yesterday's cost per active user is above the target band (CPAU_TARGET_USD)",
  async evaluate({ db, config, now }) {
    const target = config.alerts.cpauTargetUsd;
    const day = utcDay(now, -1);
    const row = await db
      .selectFrom('cost_daily')
      .select(['cpau_usd', 'total_usd', 'active_users'])
      .where('day', '=', day)
      .executeTakeFirst();
    const cpau = row?.cpau_usd == null ? undefined : Number(row.cpau_usd);
    return {
      firing: cpau !== undefined && cpau > target,
      details: {
        day,
        cpauUsd: cpau ?? null,
        targetUsd: target,
        totalUsd: row ? Number(row.total_usd) : null,
        activeUsers: row?.active_users ?? null,
      },
    };
  },
};

/**
 * Yesterday's fallback share (generations the frontier answered after the local model failed)
 * over twice its median of the 7 days before. Needs at least one of those days with
 * generations; a median of 0 makes any fallback fire.
 */
export const fallbackShareHigh: AlertCondition = {
  id: 'fallback-share-high',
  description: "Yesterday's fallback share is over twice its median of the 7 days before",
  async evaluate({ db, now }) {
    const day = utcDay(now, -1);
    const days = await dayLayers(db, utcDay(now, -8), day);
    const last = days.find((d) => d.day === day);
    const baseline = median(days.filter((d) => d.day !== day).map((d) => d.fallbackShare));
    const share = last?.fallbackShare;
    return {
      firing: share !== undefined && baseline !== undefined && share > 2 * baseline,
      details: {
        day,
        fallbackShare: share === undefined ? null : round(share),
        median7d: baseline === undefined ? null : round(baseline),
        baselineDays: days.length - (last ? 1 : 0),
      },
    };
  },
};

/** A cache layer's hit rate down 10 points or more from the day before to yesterday. */
export const cacheHitRateDrop: AlertCondition = {
  id: 'cache-hit-rate-drop',
  description: 'A cache layer’s hit rate fell 10 points or more day over day',
  async evaluate({ db, now }) {
    const day = utcDay(now, -1);
    const before = utcDay(now, -2);
    const days = await dayLayers(db, before, day);
    const then = days.find((d) => d.day === before);
    const last = days.find((d) => d.day === day);
    const dropped =
      then && last
        ? cacheLayers
            .map((layer) => ({
              layer,
              before: round(then.hitRates[layer]),
              after: round(last.hitRates[layer]),
            }))
            .filter((l) => l.before - l.after >= 0.1 - 1e-9)
        : [];
    return { firing: dropped.length > 0, details: { day, comparedWith: before, dropped } };
  },
};
