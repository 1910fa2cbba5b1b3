import { utcDay } from '../db/partitions.ts';
import type { Logger } from '../log/logger.ts';
import type { AlertCondition, AlertContext } from './alert-condition.ts';
import {
  markSent,
  openAlert,
  resolveAlert,
  type UnsentAlert,
  unsentAlerts,
} from './alert-state.ts';
import { type OperatorEventDeps, sendOperatorEvent } from './operator-events.ts';

/** What one check did. */
export interface CheckResult {
  /** Conditions firing now. */
  firing: string[];
  /** Conditions whose evaluation threw (left as they were: neither opened nor resolved). */
  failed: { condition: string; error: string }[];
  /** Events this check sent (logged, and queued when `ALERT_WEBHOOK_URL` is set). */
  sent: { condition: string; day: string; event: 'triggered' | 'resolved' }[];
}

/**
 * Evaluates every condition, opens an alert for each one firing (at most once per condition
 * per UTC day) and resolves the open alert of each one that is not, then sends what the
 * `alerts` table says is unsent: a warning log line per triggered alert, an info line per
 * resolved one, and an `alert.triggered` / `alert.resolved` event each when a webhook is set.
 * Any number of workers may run it at once: the table decides, the delivery id deduplicates.
 */
export async function checkAlerts(
  deps: OperatorEventDeps & { log: Logger },
  context: AlertContext,
  conditions: readonly AlertCondition[],
): Promise<CheckResult> {
  const result: CheckResult = { firing: [], failed: [], sent: [] };
  const day = utcDay(context.now);
  for (const condition of conditions) {
    let verdict: Awaited<ReturnType<AlertCondition['evaluate']>>;
    try {
      verdict = await condition.evaluate(context);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      deps.log.error({ err: error, condition: condition.id }, 'alert condition failed to evaluate');
      result.failed.push({ condition: condition.id, error: message });
      continue;
    }
    const at = context.now;
    if (verdict.firing) {
      result.firing.push(condition.id);
      await openAlert(deps.db, { condition: condition.id, day, details: verdict.details, at });
    } else {
      await resolveAlert(deps.db, { condition: condition.id, details: verdict.details, at });
    }
  }
  const described = new Map(conditions.map((c) => [c.id, c.description]));
  for (const alert of await unsentAlerts(deps.db)) {
    result.sent.push(...(await sendAlertEvents(deps, alert, described.get(alert.condition))));
  }
  return result;
}

/** Sends an alert's unsent events, triggered before resolved; each is logged by one worker. */
async function sendAlertEvents(
  deps: OperatorEventDeps & { log: Logger },
  alert: UnsentAlert,
  description = alert.condition,
): Promise<CheckResult['sent']> {
  const sent: CheckResult['sent'] = [];
  const { condition, day } = alert;
  const subject = `alert/${condition}/${day}`;
  const base = { condition, description, day, firedAt: alert.firedAt.toISOString() };
  if (!alert.triggeredSent) {
    const data = { ...base, details: alert.details };
    const deliveryId = await sendOperatorEvent(deps, {
      type: 'alert.triggered',
      subject,
      timestamp: alert.firedAt,
      data,
    });
    if (await markSent(deps.db, alert, 'triggered')) {
      deps.log.warn({ alert: data, deliveryId }, `alert: ${description}`);
      sent.push({ condition, day, event: 'triggered' });
    }
  }
  if (alert.resolvedAt) {
    const data = {
      ...base,
      resolvedAt: alert.resolvedAt.toISOString(),
      details: alert.resolvedDetails ?? {},
    };
    const deliveryId = await sendOperatorEvent(deps, {
      type: 'alert.resolved',
      subject,
      timestamp: alert.resolvedAt,
      data,
    });
    if (await markSent(deps.db, alert, 'resolved')) {
      deps.log.info({ alert: data, deliveryId }, `alert resolved: ${description}`);
      sent.push({ condition, day, event: 'resolved' });
    }
  }
  return sent;
}
