import type { Migration } from 'kysely/migration';
import type { SecretKeyring } from '../../secrets/secret-keyring.ts';
import * as initial from './0001-initial.ts';
import * as telemetryLate from './0002-telemetry-late.ts';
import * as coldExport from './0003-cold-export.ts';
import * as webhooks from './0004-webhooks.ts';
import * as ledgerRetention from './0005-ledger-retention.ts';
import { secretsAtRest } from './0006-secrets-at-rest.ts';
import * as webhookEndpoints from './0007-webhook-endpoints.ts';
import * as cacheScope from './0008-cache-scope.ts';
import * as precomputeRuns from './0009-precompute-runs.ts';
import * as cacheAudits from './0010-cache-audits.ts';
import * as retrainLoop from './0011-retrain-loop.ts';
import * as modelVersions from './0012-model-versions.ts';
import * as usageRollup from './0013-usage-rollup.ts';
import * as budgets from './0014-budgets.ts';
import * as alerts from './0015-alerts.ts';
import * as dayUsage from './0016-day-usage.ts';
import * as erasures from './0017-erasures.ts';
import * as erasureFiles from './0018-erasure-files.ts';

/** What migrations need from the process: the keys that seal secrets (0006). */
export interface MigrationContext {
  /** `SECRETS_KEY` (and previous); needed only when there are secrets to seal or open. */
  keyring?: SecretKeyring | undefined;
}

/**
 * Every migration, in order. Imported statically so the worker image needs no file scanning; a
 * function so the ones that transform data receive what they need to do so.
 */
export function migrations(context: MigrationContext = {}): Record<string, Migration> {
  return {
    '0001-initial': initial,
    '0002-telemetry-late': telemetryLate,
    '0003-cold-export': coldExport,
    '0004-webhooks': webhooks,
    '0005-ledger-retention': ledgerRetention,
    '0006-secrets-at-rest': secretsAtRest(context.keyring),
    '0007-webhook-endpoints': webhookEndpoints,
    '0008-cache-scope': cacheScope,
    '0009-precompute-runs': precomputeRuns,
    '0010-cache-audits': cacheAudits,
    '0011-retrain-loop': retrainLoop,
    '0012-model-versions': modelVersions,
    '0013-usage-rollup': usageRollup,
    '0014-budgets': budgets,
    '0015-alerts': alerts,
    '0016-day-usage': dayUsage,
    '0017-erasures': erasures,
    '0018-erasure-files': erasureFiles,
  };
}
