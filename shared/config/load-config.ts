import path from 'node:path';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors/config-error.ts';
import { type AlertsConfig, alertsConfig } from './alerts-config.ts';
import { type BoardConfig, boardConfig } from './board-config.ts';
import { type BudgetsConfig, budgetsConfig } from './budgets-config.ts';
import { type CacheAuditConfig, cacheAuditConfig } from './cache-audit-config.ts';
import { type ClockConfig, clockConfig } from './clock-config.ts';
import type { CostsConfig } from './costs-config.ts';
import { type EnvName, envSpec } from './env-spec.ts';
import type { FinetuneConfig } from './finetune-config.ts';
import { type PrecomputeConfig, precomputeConfig } from './precompute-config.ts';
import { type SecretsConfig, secretsConfig } from './secrets-config.ts';
import { type ShadowConfig, shadowConfig } from './shadow-config.ts';

type Spec = typeof envSpec;
type Raw = {
  [K in EnvName]: Spec[K] extends { optional: true }
    ? z.output<Spec[K]['schema']> | undefined
    : z.output<Spec[K]['schema']>;
};

export type {
  BudgetsConfig,
  CacheAuditConfig,
  ClockConfig,
  CostsConfig,
  FinetuneConfig,
  SecretsConfig,
  ShadowConfig,
};

export type StorageConfig =
  | { driver: 'file'; root: string }
  | {
      driver: 's3';
      bucket: string;
      prefix: string;
      endpoint: string | undefined;
      region: string;
      accessKeyId: string;
      secretAccessKey: string;
      forcePathStyle: boolean;
      checksumMode: 'when_required' | 'when_supported';
    };

/** The parsed, validated configuration every process receives. Nothing else reads `process.env`. */
export interface Config {
  env: 'development' | 'production' | 'test';
  logLevel: Raw['LOG_LEVEL'];
  database: {
    url: string;
    poolMax: number;
    preparedStatements: 'auto' | 'on' | 'off';
    /** Processes across the fleet that each hold a pool of `poolMax` (`DATABASE_FLEET_PROCESSES`). */
    fleetProcesses: number;
  };
  /** `REDIS_URL`, and whether it names a cluster (`REDIS_CLUSTER`). */
  redis: { url: string; cluster: boolean };
  queuePrefix: string;
  storage: StorageConfig;
  worker: {
    queues: 'all' | string[];
    concurrency: number | undefined;
    scheduleTz: string;
    shutdownGraceMs: number;
    healthPort: number;
    partitionDaysAhead: number;
  };
  board: BoardConfig;
  api: ApiConfig;
  telemetry: TelemetryConfig;
  cold: ColdConfig;
  precompute: PrecomputeConfig;
  finetune: FinetuneConfig;
  inference: InferenceConfig;
  cacheAudit: CacheAuditConfig;
  shadow: ShadowConfig;
  /** The compressed clock (benchmarks and tests only); rate 1 is the real clock. */
  clock: ClockConfig;
  /** The price sheet of the cost rollup (`COSTS`). */
  costs: CostsConfig;
  /** Operator alerts and the daily digest. */
  alerts: AlertsConfig;
  /** Per-user daily budgets (the same object as `api.budgets`). */
  budgets: BudgetsConfig;
  webhooks: WebhookConfig;
  secrets: SecretsConfig;
}

/** Webhook delivery: the retry schedule and what the SSRF-safe client may reach. */
export interface WebhookConfig {
  /** Delay before each attempt, in ms; the first is 0, the length is the attempt count. */
  retryScheduleMs: number[];
  retryAfterMaxMs: number;
  timeoutMs: number;
  maxResponseBytes: number;
  allowList: string[];
  blockedRanges: string[];
  allowHttp: boolean;
  /** Finished deliveries older than this (since their last change) are pruned. */
  retentionMs: number;
  /** Attempts one endpoint may have queued or running at once, fleet-wide. */
  endpointConcurrency: number;
  /** An endpoint failing every attempt for this long is disabled. */
  disableAfterMs: number;
  /** Period of the `dispatch-webhooks` job. */
  dispatchEveryMs: number;
}

/** The generation pipeline: models, caches, routing, prices. */
export interface InferenceConfig {
  /** The Ollama servers, at least one; every one serves the same models. */
  ollamaUrls: string[];
  /** How long a failed model server is skipped before a probe may bring it back. */
  ollamaCooldownMs: number;
  localModel: string;
  localModelVersion: string;
  localTimeoutMs: number;
  /** How long a generation waits out an outage of every model server; 0: never. */
  modelOutageWaitMs: number;
  embedModel: string;
  embedDimensions: number;
  /** Unset when no paid fallback is configured. */
  frontier: { url: string; apiKey: string; model: string; timeoutMs: number } | undefined;
  prices: Record<string, { input: number; output: number }>;
  ttlMs: { exact: number; semantic: number; precomputed: number };
  semanticMinScore: Record<string, number>;
  /** Most semantic entries a namespace keeps fleet-wide (least recently hit go first); 0: no cap. */
  semanticMaxEntries: number;
  route: {
    localTasks: string[];
    localMaxChars: number;
    reasoningTasks: string[];
    complexityMax: number;
  };
}

/** The cold side: export to Parquet and DuckDB queries. */
export interface ColdConfig {
  hotRetentionMs: number;
  exportCron: string;
  /** `ERASE_CRON`: when `apply-erasures` applies pending erasures to cold files. */
  eraseCron: string;
  rowsPerFile: number;
  dropGraceMs: number;
  workDir: string;
  cacheDir: string;
  duckdb: { memoryLimit: string; threads: number };
}

export interface TelemetryConfig {
  flushEveryMs: number;
  batchSize: number;
  flushBudgetMs: number;
  bufferCap: number;
}

export interface ApiConfig {
  port: number;
  maxBodyBytes: number;
  keyCacheTtlMs: number;
  keyStaleIfErrorMs: number;
  idempotencyTtlMs: number;
  rateLimits: {
    perKeyPerSecond: number;
    perUserPerMinute: number;
    /** Ascending by threshold: after `afterPerHour` requests in the last hour, `perMinute`. */
    userTiers: { afterPerHour: number; perMinute: number }[];
    authFailuresPerIp: number;
  };
  /** Per-user daily budgets, checked on `POST /v1/generations`. */
  budgets: BudgetsConfig;
}

/**
 * Parses the environment once, at boot. Every problem is collected and thrown together as a
 * {@link ConfigError} naming the variable, the problem and an example.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const issues: ConfigIssue[] = [];
  const raw: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(envSpec) as [EnvName, Spec[EnvName]][]) {
    const given = env[name]?.trim() === '' ? undefined : env[name];
    const value = given ?? spec.default;
    if (value === undefined) {
      if (!('optional' in spec && spec.optional)) {
        issues.push({ variable: name, problem: 'is required but not set', example: spec.example });
      }
      continue;
    }
    const parsed = spec.schema.safeParse(value);
    if (parsed.success) raw[name] = parsed.data;
    else {
      const shown = 'secret' in spec && spec.secret ? '(secret value hidden)' : `"${value}"`;
      const problem = parsed.error.issues.map((i) => i.message).join('; ');
      issues.push({ variable: name, problem: `${shown} ${problem}`, example: spec.example });
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  const config = assemble(raw as Raw, issues);
  if (issues.length > 0) throw new ConfigError(issues);
  return config;
}

function assemble(raw: Raw, issues: ConfigIssue[]): Config {
  if (raw.NODE_ENV === 'production' && raw.WEBHOOK_ALLOW_HTTP) {
    issues.push({
      variable: 'WEBHOOK_ALLOW_HTTP',
      problem:
        'must be false when NODE_ENV=production (clear-text webhooks leak payload and signature)',
      example: 'false',
    });
  }
  if (Boolean(raw.FRONTIER_URL) !== Boolean(raw.FRONTIER_API_KEY)) {
    const missing = raw.FRONTIER_URL ? 'FRONTIER_API_KEY' : 'FRONTIER_URL';
    issues.push({
      variable: missing,
      problem: 'is required when the other of FRONTIER_URL / FRONTIER_API_KEY is set',
      example: envSpec[missing].example,
    });
  }
  if (raw.REDIS_CLUSTER) clusterIssues(raw, issues);
  const budgets = budgetsConfig(raw, issues);
  return {
    env: raw.NODE_ENV,
    logLevel: raw.LOG_LEVEL,
    database: {
      url: raw.DATABASE_URL,
      poolMax: raw.DATABASE_POOL_MAX,
      preparedStatements: raw.DATABASE_PREPARED_STATEMENTS,
      fleetProcesses: raw.DATABASE_FLEET_PROCESSES,
    },
    redis: { url: raw.REDIS_URL, cluster: raw.REDIS_CLUSTER },
    queuePrefix: raw.QUEUE_PREFIX,
    storage: storageConfig(raw, issues),
    worker: {
      queues:
        raw.WORKER_QUEUES === 'all' ? 'all' : raw.WORKER_QUEUES.split(',').map((q) => q.trim()),
      concurrency: raw.WORKER_CONCURRENCY,
      scheduleTz: raw.SCHEDULE_TZ,
      shutdownGraceMs: raw.SHUTDOWN_GRACE,
      healthPort: raw.HEALTH_PORT,
      partitionDaysAhead: raw.PARTITION_DAYS_AHEAD,
    },
    inference: {
      ollamaUrls: raw.OLLAMA_URL,
      ollamaCooldownMs: raw.OLLAMA_COOLDOWN,
      localModel: raw.LOCAL_MODEL,
      localModelVersion: raw.LOCAL_MODEL_VERSION,
      localTimeoutMs: raw.LOCAL_TIMEOUT,
      modelOutageWaitMs: raw.MODEL_OUTAGE_WAIT,
      embedModel: raw.EMBED_MODEL,
      embedDimensions: raw.EMBED_DIMENSIONS,
      frontier:
        raw.FRONTIER_URL && raw.FRONTIER_API_KEY
          ? {
              url: raw.FRONTIER_URL,
              apiKey: raw.FRONTIER_API_KEY,
              model: raw.FRONTIER_MODEL,
              timeoutMs: raw.FRONTIER_TIMEOUT,
            }
          : undefined,
      prices: raw.MODEL_PRICES,
      ttlMs: {
        exact: raw.CACHE_TTL_EXACT,
        semantic: raw.CACHE_TTL_SEMANTIC,
        precomputed: raw.CACHE_TTL_PRECOMPUTED,
      },
      semanticMinScore: raw.SEMANTIC_MIN_SCORE,
      semanticMaxEntries: raw.SEMANTIC_MAX_ENTRIES,
      route: {
        localTasks: raw.ROUTE_LOCAL_TASKS,
        localMaxChars: raw.ROUTE_LOCAL_MAX_CHARS,
        reasoningTasks: raw.ROUTE_REASONING_TASKS,
        complexityMax: raw.ROUTE_COMPLEXITY_MAX,
      },
    },
    precompute: precomputeConfig(raw),
    cacheAudit: cacheAuditConfig(raw),
    shadow: shadowConfig(raw, Boolean(raw.FRONTIER_URL && raw.FRONTIER_API_KEY)),
    clock: clockConfig(raw, issues),
    costs: raw.COSTS,
    alerts: alertsConfig(raw, issues),
    budgets,
    finetune: {
      cron: raw.FINETUNE_CRON,
      windowMs: raw.FINETUNE_WINDOW,
      include: raw.FINETUNE_INCLUDE ?? [],
      maxTokens: raw.FINETUNE_MAX_TOKENS,
      scrubPatterns: raw.FINETUNE_SCRUB_PATTERNS ?? [],
    },
    cold: {
      hotRetentionMs: raw.HOT_RETENTION,
      exportCron: raw.EXPORT_CRON,
      eraseCron: raw.ERASE_CRON,
      rowsPerFile: raw.EXPORT_ROWS_PER_FILE,
      dropGraceMs: raw.EXPORT_DROP_GRACE,
      workDir: raw.EXPORT_WORK_DIR,
      cacheDir: raw.COLD_CACHE_DIR,
      duckdb: { memoryLimit: raw.DUCKDB_MEMORY_LIMIT, threads: raw.DUCKDB_THREADS },
    },
    telemetry: {
      flushEveryMs: raw.TELEMETRY_FLUSH_EVERY,
      batchSize: raw.TELEMETRY_BATCH_SIZE,
      flushBudgetMs: raw.TELEMETRY_FLUSH_BUDGET,
      bufferCap: raw.TELEMETRY_BUFFER_CAP,
    },
    api: {
      port: raw.API_PORT,
      maxBodyBytes: raw.API_MAX_BODY_KB * 1024,
      keyCacheTtlMs: raw.API_KEY_CACHE_TTL,
      keyStaleIfErrorMs: raw.API_KEY_STALE_IF_ERROR,
      idempotencyTtlMs: raw.IDEMPOTENCY_TTL,
      rateLimits: {
        perKeyPerSecond: raw.RATE_LIMIT_PER_KEY,
        perUserPerMinute: raw.RATE_LIMIT_PER_USER,
        userTiers: raw.RATE_LIMIT_USER_TIERS.split(',')
          .filter((t) => t.trim() !== '')
          .map((t) => {
            const [afterPerHour, perMinute] = t.split(':').map((n) => Number(n.trim()));
            return { afterPerHour: afterPerHour ?? 0, perMinute: perMinute ?? 0 };
          })
          .sort((a, b) => a.afterPerHour - b.afterPerHour),
        authFailuresPerIp: raw.AUTH_FAILURES_PER_IP,
      },
      budgets,
    },
    webhooks: {
      retryScheduleMs: raw.WEBHOOK_RETRY_SCHEDULE,
      retryAfterMaxMs: raw.WEBHOOK_RETRY_AFTER_MAX,
      timeoutMs: raw.WEBHOOK_TIMEOUT,
      maxResponseBytes: raw.WEBHOOK_MAX_RESPONSE_KB * 1024,
      allowList: raw.WEBHOOK_ALLOW_LIST ?? [],
      blockedRanges: raw.WEBHOOK_BLOCKED_RANGES ?? [],
      allowHttp: raw.WEBHOOK_ALLOW_HTTP,
      retentionMs: raw.WEBHOOK_RETENTION,
      endpointConcurrency: raw.WEBHOOK_ENDPOINT_CONCURRENCY,
      disableAfterMs: raw.WEBHOOK_DISABLE_AFTER,
      dispatchEveryMs: raw.WEBHOOK_DISPATCH_EVERY,
    },
    secrets: secretsConfig(raw),
    board: boardConfig(raw, issues),
  };
}

/**
 * A cluster runs a multi-key script only when its keys share a slot: every key lowburn writes
 * starts with the queue prefix, so a hash tag there keeps the fleet's scripts whole.
 */
function clusterIssues(raw: Raw, issues: ConfigIssue[]): void {
  if (!/^\{.+\}$/.test(raw.QUEUE_PREFIX)) {
    issues.push({
      variable: 'QUEUE_PREFIX',
      problem: `"${raw.QUEUE_PREFIX}" has no hash tag; with REDIS_CLUSTER=true every key must share one slot (BullMQ's scripts, the telemetry stream, rate limits, caches), so wrap the prefix in braces`,
      example: `{${raw.QUEUE_PREFIX.replace(/[{}]/g, '') || 'lowburn'}}`,
    });
  }
  const db = new URL(raw.REDIS_URL).pathname.replace(/^\//, '');
  if (db !== '' && db !== '0') {
    issues.push({
      variable: 'REDIS_URL',
      problem: `names database ${db}; a Redis Cluster has database 0 only, so drop the /${db}`,
      example: envSpec.REDIS_URL.example,
    });
  }
}

function storageConfig(raw: Raw, issues: ConfigIssue[]): StorageConfig {
  const storageUrl = raw.STORAGE_URL;
  if (storageUrl.startsWith('file:')) {
    const dir = storageUrl.slice('file:'.length).replace(/^\/\/(?=\/)/, '');
    return { driver: 'file', root: path.resolve(dir) };
  }
  const [bucket = '', ...rest] = storageUrl.slice('s3://'.length).split('/');
  // The defaults apply as a pair, only when neither key is set: half an R2 key pair completed
  // with MinIO's half would fail every request with a misleading InvalidAccessKeyId.
  const keys =
    raw.S3_ACCESS_KEY_ID || raw.S3_SECRET_ACCESS_KEY
      ? { S3_ACCESS_KEY_ID: raw.S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY: raw.S3_SECRET_ACCESS_KEY }
      : {
          S3_ACCESS_KEY_ID: raw.S3_DEFAULT_ACCESS_KEY_ID,
          S3_SECRET_ACCESS_KEY: raw.S3_DEFAULT_SECRET_ACCESS_KEY,
        };
  for (const name of ['S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'] as const) {
    if (!keys[name]) {
      issues.push({
        variable: name,
        problem: `is required when STORAGE_URL is s3://`,
        example: envSpec[name].example,
      });
    }
  }
  return {
    driver: 's3',
    bucket,
    prefix: rest.filter(Boolean).join('/'),
    endpoint: raw.S3_ENDPOINT,
    region: raw.S3_REGION,
    accessKeyId: keys.S3_ACCESS_KEY_ID ?? '',
    secretAccessKey: keys.S3_SECRET_ACCESS_KEY ?? '',
    forcePathStyle: raw.S3_FORCE_PATH_STYLE,
    checksumMode: raw.S3_CHECKSUM_MODE,
  };
}
