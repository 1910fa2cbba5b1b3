import type { ApiConfig, TelemetryConfig } from '../shared/config/load-config.ts';
import type { Db } from '../shared/db/create-db.ts';
import type { ApiScope } from '../shared/db/database.ts';
import type { Logger } from '../shared/log/logger.ts';
import type { QueueContract } from '../shared/queue/job-definition.ts';
import type { Queues } from '../shared/queue/queues.ts';
import type { RedisClient } from '../shared/redis/connections.ts';

/** An authenticated API key, as the routes see it. */
export interface ApiKeyIdentity {
  id: string;
  name: string;
  scopes: readonly ApiScope[];
  /** Whose cached answers its generations share (`api_keys.cache_scope`, else its id). */
  cacheScope: string;
  /** Its users' daily budgets in USD, when it overrides the settings (`lowburn keys budget`). */
  dailyBudgetUsd?: number | null;
  dailyBudgetUsdHard?: number | null;
}

/** Everything the API app needs, created once per process (or per serverless instance). */
export interface ApiDeps {
  config: ApiConfig;
  telemetry: Pick<TelemetryConfig, 'bufferCap'>;
  /** A fail-fast producer connection (`createProducerConnection`). */
  redis: RedisClient;
  db: Db;
  queues: Queues;
  keys: {
    resolve(
      presentedKey: string,
      options?: { beforeLookup?: () => Promise<void> },
    ): Promise<ApiKeyIdentity | undefined>;
  };
  /** Queues whose jobs the API can report on. */
  contracts: Record<string, QueueContract>;
  /** Scheduled jobs an admin key may run now (`POST /v1/pipelines/:name/runs`). */
  pipelines: Record<string, QueueContract>;
  log: Logger;
  /** `SECRETS_KEY`'s bytes: erasures record a keyed hash of the user id. Unset: 503 for them. */
  secretsKey?: Buffer | undefined;
  /** The clock, in epoch ms: decides the budget day (tests move it). @defaultValue Date.now */
  now?: () => number;
}

export interface ApiEnv {
  Variables: { apiKey: ApiKeyIdentity; clientIp: string; counted: boolean };
}
