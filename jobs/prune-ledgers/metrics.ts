import { Counter } from 'prom-client';
import { oncePerRegistry } from '../../shared/metrics/registry.ts';

/** Rows `prune-ledgers` deleted, by ledger (`webhook_deliveries`, `idempotency_keys`). */
export const prunedRowsCounter = oncePerRegistry(
  (registry): Counter<'ledger'> =>
    new Counter({
      name: 'lowburn_ledger_pruned_rows_total',
      help: 'Ledger rows prune-ledgers deleted (webhook deliveries count without their attempts).',
      labelNames: ['ledger'],
      registers: [registry],
    }),
);
