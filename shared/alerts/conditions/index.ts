import type { AlertCondition } from '../alert-condition.ts';
import { budgetCrossed } from './budget-conditions.ts';
import { cacheHitRateDrop, cpauAboveTarget, fallbackShareHigh } from './cost-conditions.ts';
import { deadLetters, nightlyJobs, queueLag, telemetryBufferHigh } from './fleet-conditions.ts';

/**
 * Every alert condition `check-alerts` evaluates, in order. A new condition is one
 * {@link AlertCondition} object and one line here; its id must be new (the `alerts` table and
 * the `lowburn_alert_firing` metric are keyed by it).
 */
export const alertConditions: readonly AlertCondition[] = [
  cpauAboveTarget,
  fallbackShareHigh,
  cacheHitRateDrop,
  deadLetters,
  nightlyJobs,
  queueLag,
  telemetryBufferHigh,
  budgetCrossed,
];
