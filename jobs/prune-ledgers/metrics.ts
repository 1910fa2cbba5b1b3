import { Counter, type Registry } from 'prom-client';

const byRegistry = new WeakMap<Registry, Counter<'ledger'>>();

/** Rows `prune-ledgers` deleted, by ledger (`webhook_deliveries`, `idempotency_keys`). */
export function prunedRowsCounter(registry: Registry): Counter<'ledger'> {
  let counter = byRegistry.get(registry);
  if (!counter) {
    counter = new Counter({
      name: 'lowburn_ledger_pruned_rows_total',
      help: 'Ledger rows prune-ledgers deleted (webhook deliveries count without their attempts).',
      labelNames: ['ledger'],
      registers: [registry],
    });
    byRegistry.set(registry, counter);
  }
  return counter;
}
