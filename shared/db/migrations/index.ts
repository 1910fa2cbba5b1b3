import type { Migration } from 'kysely/migration';
import * as initial from './0001-initial.ts';
import * as telemetryLate from './0002-telemetry-late.ts';
import * as coldExport from './0003-cold-export.ts';
import * as webhooks from './0004-webhooks.ts';
import * as ledgerRetention from './0005-ledger-retention.ts';
import * as webhookEndpoints from './0006-webhook-endpoints.ts';

/** Every migration, in order. Imported statically so the worker image needs no file scanning. */
export const migrations: Record<string, Migration> = {
  '0001-initial': initial,
  '0002-telemetry-late': telemetryLate,
  '0003-cold-export': coldExport,
  '0004-webhooks': webhooks,
  '0005-ledger-retention': ledgerRetention,
  '0006-webhook-endpoints': webhookEndpoints,
};
