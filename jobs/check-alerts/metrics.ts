import { Gauge, type Registry } from 'prom-client';
import { openConditions } from '../../shared/alerts/alert-state.ts';
import type { Db } from '../../shared/db/create-db.ts';
import { oncePerRegistry } from '../../shared/metrics/registry.ts';

/**
 * `lowburn_alert_firing{condition}`: 1 while a condition's alert is open, else 0, for every
 * condition of the registry. Read from the `alerts` table at scrape time, so every worker that
 * ran a check reports the fleet's state, not only the one whose turn it was.
 */
export const alertMetrics = oncePerRegistry(
  (registry: Registry, db: Db, conditions: readonly string[]): { firing: Gauge<'condition'> } => ({
    firing: new Gauge({
      name: 'lowburn_alert_firing',
      help: 'Whether an alert condition is firing (1) or not (0), from the alerts table.',
      labelNames: ['condition'],
      registers: [registry],
      async collect() {
        const open = new Set(await openConditions(db));
        for (const condition of new Set([...conditions, ...open])) {
          this.set({ condition }, open.has(condition) ? 1 : 0);
        }
      },
    }),
  }),
);
