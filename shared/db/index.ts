export { createDb, type Db } from './create-db.ts';
export type * from './database.ts';
export { type MigrationStatus, migrateDown, migrateUp, migrationStatus } from './migrate.ts';
export {
  ensurePartitions,
  listPartitions,
  type PartitionedTable,
  partitionedTables,
  partitionName,
  utcDay,
} from './partitions.ts';
