import type { Config } from '../config/load-config.ts';
import type { Db } from '../db/create-db.ts';
import type { RedisClient } from '../redis/connections.ts';

/** What a condition may read: the stores, the settings, the queues, and the time of the check. */
export interface AlertContext {
  db: Db;
  redis: RedisClient;
  config: Config;
  /** Every queue of the fleet's catalog (lag and failed jobs are looked for in each). */
  queueNames: readonly string[];
  now: Date;
}

/** A condition's verdict; `details` goes into the log line, the event and the `alerts` row. */
export interface AlertVerdict {
  firing: boolean;
  details: Record<string, unknown>;
}

/**
 * One alert condition. The registry (`conditions/index.ts`) is a list of these: adding a
 * condition is one object and one line there.
 *
 * @example
 * export const userPastSoftBudget: AlertCondition = {
 *   id: 'user-past-soft-budget',
 *   description: 'A user went past the soft daily budget',
 *   evaluate: async ({ db, now }) => ({ firing: false, details: {} }),
 * };
 */
export interface AlertCondition {
  /** Stable, kebab-case: the `alerts` row's key, the metric's label, the event's `condition`. */
  id: string;
  /** One line for the log, the event and the README. */
  description: string;
  evaluate(context: AlertContext): Promise<AlertVerdict>;
}
