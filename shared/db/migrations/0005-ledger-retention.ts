import { type Kysely, sql } from 'kysely';

/**
 * What `prune-ledgers` needs to delete old ledger rows without scanning the tables:
 * - finished deliveries by their last change. The predicate is the pruning statement's own
 *   (`jobs/prune-ledgers/prune-ledgers.ts`), word for word, so the planner can prove the index
 *   applies; pending deliveries, the ones the fleet reads all day, stay out of it;
 * - `webhook_disabled_urls.delivery_id`, which a deleted delivery sets to NULL: without an
 *   index every deleted delivery would scan that table.
 * (`idempotency_keys` has had its `expires_at` index since 0001.)
 *
 * Plain `CREATE INDEX` (migrations run in a transaction): it holds off writes to the ledger for
 * the seconds the build takes on a table that was never pruned before.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (updated_at)
    WHERE status IN ('succeeded', 'failed', 'dead', 'disabled')`.execute(db);
  await sql`CREATE INDEX webhook_disabled_urls_delivery ON webhook_disabled_urls (delivery_id)`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX IF EXISTS webhook_disabled_urls_delivery`.execute(db);
  await sql`DROP INDEX IF EXISTS webhook_deliveries_finished`.execute(db);
}
