import { z } from 'zod';
import { addressList, retrySchedule } from '../webhooks/config-fields.ts';
import { instantField } from './clock-config.ts';
import { costsField, cpauTargetField } from './costs-config.ts';
import {
  cron,
  duration,
  flag,
  jsonRecord,
  port,
  secretKey,
  timeZone,
  url,
  urlList,
} from './fields.ts';
import { includeList, scrubPatterns } from './finetune-config.ts';

/** One environment variable: its schema plus what the README and coolify.json say about it. */
export interface EnvVar<S extends z.ZodType = z.ZodType> {
  schema: S;
  /** Value used when the variable is unset; `undefined` means required unless `optional`. */
  default?: string;
  optional?: boolean;
  /** Secrets are marked so in coolify.json and never printed. */
  secret?: boolean;
  example: string;
  description: string;
}

const v = <S extends z.ZodType>(spec: EnvVar<S>) => spec;

/**
 * Every environment variable lowburn reads. This is the single source for parsing at boot,
 * the README's config table and the variables declared in coolify.json.
 */
export const envSpec = {
  NODE_ENV: v({
    schema: z.enum(['development', 'production', 'test']),
    default: 'development',
    example: 'production',
    description:
      'In `production` the Redis preflight refuses unsafe settings and the board requires a password.',
  }),
  LOG_LEVEL: v({
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    default: 'info',
    example: 'debug',
    description: 'Minimum level of the JSON log lines written to stdout.',
  }),
  DATABASE_URL: v({
    schema: url(['postgres', 'postgresql']),
    secret: true,
    example: 'postgres://lowburn:secret@127.0.0.1:5432/lowburn',
    description: 'Postgres connection string (hot data, ledgers, API keys).',
  }),
  DATABASE_POOL_MAX: v({
    schema: z.coerce.number().int().min(1).max(100),
    default: '10',
    example: '10',
    description:
      'Maximum Postgres connections per process (its pool). Each process logs it at boot.',
  }),
  DATABASE_PREPARED_STATEMENTS: v({
    schema: z.enum(['auto', 'on', 'off']),
    default: 'auto',
    example: 'off',
    description:
      "Whether the hot ledger statements run as named prepared statements (planned once per connection). `off`: unnamed statements only, as a transaction-mode pooler needs (PgBouncer before 1.21, or without `max_prepared_statements`; Supabase's pooler). `auto`: `off` when `DATABASE_URL`'s port is 6432 or 6543, its host ends in `.pooler.supabase.com`, or the first connection's backend process id is not the one Postgres reports (a pooler answered); `on` otherwise. See \"Past one box\".",
  }),
  DATABASE_FLEET_PROCESSES: v({
    schema: z.coerce.number().int().min(1).max(1000),
    default: '2',
    example: '6',
    description:
      "How many lowburn processes hold a pool of `DATABASE_POOL_MAX` against this Postgres, on every box (the API and worker containers; the compose file runs one of each). The worker warns at boot when that many pools, the board's 4 and the export's 2 would pass the server's `max_connections`.",
  }),
  SECRETS_KEY: v({
    schema: secretKey(),
    optional: true,
    secret: true,
    example: '$(openssl rand -base64 32)',
    description:
      'Encrypts webhook signing secrets at rest (AES-256-GCM): 32 random bytes, base64. Required in production by the worker (when it runs `deliver-webhook`), `lowburn keys create`, `lowburn secrets rotate`, and `lowburn migrate` when it has rows to encrypt. Unset outside production: a public development key, with a warning.',
  }),
  SECRETS_KEY_PREVIOUS: v({
    schema: secretKey(),
    optional: true,
    secret: true,
    example: '$(openssl rand -base64 32)',
    description:
      'The key `SECRETS_KEY` replaced: secrets sealed under it still open until `lowburn secrets rotate` re-encrypts them. Unset it after the rotation.',
  }),
  REDIS_URL: v({
    schema: url(['redis', 'rediss']),
    secret: true,
    example: 'redis://:secret@127.0.0.1:6379',
    description: 'Redis connection string (queues, caches, telemetry stream, rate limits).',
  }),
  REDIS_CLUSTER: v({
    schema: flag(),
    default: 'false',
    example: 'true',
    description:
      "`true` when `REDIS_URL` names a node of a Redis Cluster (any node, or a managed service's configuration endpoint): the fleet connects with a cluster client, which finds the other nodes and follows failovers. Needs a `QUEUE_PREFIX` with a hash tag, such as `{lowburn}`.",
  }),
  QUEUE_PREFIX: v({
    schema: z.string().regex(/^(\{[A-Za-z0-9_-]+\}|[A-Za-z0-9_-]+)$/, {
      message:
        'must be letters, digits, - or _, optionally wrapped in {} as a Redis Cluster hash tag',
    }),
    default: 'lowburn',
    example: '{lowburn}',
    description:
      'Prefix of every Redis key (queues, caches, telemetry stream, rate limits, budgets). Wrap it in braces (`{lowburn}`) to keep all keys in one Redis Cluster slot; required when `REDIS_CLUSTER=true`.',
  }),
  STORAGE_URL: v({
    schema: z.string().regex(/^(file:.+|s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?)$/, {
      message: 'must be file:<dir> or s3://<bucket>/<prefix>',
    }),
    default: 'file:./data/objects',
    example: 's3://lowburn-cold/prod',
    description:
      'Object storage for cold data: a local folder (`file:`) or an S3-compatible bucket.',
  }),
  S3_ENDPOINT: v({
    schema: url(['http', 'https']),
    optional: true,
    example: 'https://<account>.r2.cloudflarestorage.com',
    description: 'S3 API endpoint; leave unset for AWS S3. R2 and MinIO need it.',
  }),
  S3_REGION: v({
    schema: z.string().min(1),
    default: 'auto',
    example: 'auto',
    description: 'Region; R2 uses `auto`.',
  }),
  S3_ACCESS_KEY_ID: v({
    schema: z.string().min(1),
    optional: true,
    secret: true,
    example: 'AKIA…',
    description: 'Access key id (required with an `s3://` STORAGE_URL).',
  }),
  S3_SECRET_ACCESS_KEY: v({
    schema: z.string().min(1),
    optional: true,
    secret: true,
    example: 'wJalr…',
    description: 'Secret access key (required with an `s3://` STORAGE_URL).',
  }),
  S3_DEFAULT_ACCESS_KEY_ID: v({
    schema: z.string().min(1),
    optional: true,
    secret: true,
    example: 'lowburn',
    description:
      "Used with `S3_DEFAULT_SECRET_ACCESS_KEY` when `S3_ACCESS_KEY_ID` and `S3_SECRET_ACCESS_KEY` are both unset: docker-compose.yml passes the bundled MinIO's root user here, so setting the `S3_*` keys (R2) overrides it without nesting one compose default in another.",
  }),
  S3_DEFAULT_SECRET_ACCESS_KEY: v({
    schema: z.string().min(1),
    optional: true,
    secret: true,
    example: 'lowburn-dev-minio',
    description: 'The secret of `S3_DEFAULT_ACCESS_KEY_ID`.',
  }),
  S3_FORCE_PATH_STYLE: v({
    schema: flag(),
    default: 'false',
    example: 'true',
    description:
      'Address buckets as `endpoint/bucket` (MinIO, s3rver) instead of `bucket.endpoint`.',
  }),
  S3_CHECKSUM_MODE: v({
    schema: z.enum(['when_required', 'when_supported']),
    default: 'when_required',
    example: 'when_supported',
    description:
      'AWS SDK request/response checksum mode. `when_required` works with R2 and MinIO; lowburn verifies its own SHA-256 either way.',
  }),
  WORKER_QUEUES: v({
    schema: z.string().regex(/^(all|[a-z0-9-]+(\s*,\s*[a-z0-9-]+)*)$/, {
      message: 'must be "all" or a comma-separated list of queue names',
    }),
    default: 'all',
    example: 'flush-telemetry,export-cold',
    description: 'Queues this worker process runs (`all`, or a comma-separated list).',
  }),
  WORKER_CONCURRENCY: v({
    schema: z.coerce.number().int().min(1).max(1000),
    optional: true,
    example: '20',
    description: "Overrides every job's own concurrency in this process.",
  }),
  SCHEDULE_TZ: v({
    schema: timeZone(),
    default: 'UTC',
    example: 'Europe/Berlin',
    description:
      'Time zone of cron schedules that do not pin their own (e.g. the 3 AM precompute).',
  }),
  CLOCK_RATE: v({
    schema: z.coerce
      .number({ error: 'must be a number of simulated seconds per real second, like 24' })
      .positive({ error: 'must be above 0 (1: the real clock)' }),
    default: '1',
    example: '24',
    description:
      'Benchmarks and tests only, refused when NODE_ENV=production: runs the compressed clock, `CLOCK_RATE` simulated seconds per real second (24: a day in an hour), so every cron schedule fires at its simulated time (each becomes a fixed interval of its period ÷ the rate; crons without a fixed period are refused). Requires `CLOCK_ORIGIN` and `CLOCK_STARTED_AT`. 1: the real clock.',
  }),
  CLOCK_ORIGIN: v({
    schema: instantField(),
    optional: true,
    example: '2027-03-01T00:00:00Z',
    description:
      'Benchmarks and tests only: the simulated instant at `CLOCK_STARTED_AT`, when `CLOCK_RATE` is not 1.',
  }),
  CLOCK_STARTED_AT: v({
    schema: instantField(),
    optional: true,
    example: '2027-03-01T09:00:00Z',
    description:
      'Benchmarks and tests only: the real instant that maps to `CLOCK_ORIGIN`, when `CLOCK_RATE` is not 1. Give every process of a run the same value.',
  }),
  SHUTDOWN_GRACE: v({
    schema: duration(),
    default: '25s',
    example: '25s',
    description:
      "On SIGTERM, how long active jobs may finish before they are handed back; keep it below the container's stop timeout.",
  }),
  HEALTH_PORT: v({
    schema: port(),
    default: '9464',
    example: '9464',
    description: 'Port of the worker’s `/healthz` and `/metrics` server (`0`: any free port).',
  }),
  PARTITION_DAYS_AHEAD: v({
    schema: z.coerce.number().int().min(1).max(60),
    default: '3',
    example: '7',
    description: 'How many future day partitions `maintain-partitions` keeps created.',
  }),
  OLLAMA_URL: v({
    schema: urlList(['http', 'https']),
    default: 'http://127.0.0.1:11434',
    example: 'http://ollama-1:11434,http://ollama-2:11434',
    description:
      'The local model servers (Ollama), comma-separated: chat for generations, embed for the semantic cache. Each request goes to the server with the fewest requests in flight; every server must serve the same `LOCAL_MODEL` and `EMBED_MODEL` (the worker checks at boot).',
  }),
  OLLAMA_COOLDOWN: v({
    schema: duration(),
    default: '30s',
    example: '1m',
    description:
      'How long a model server that failed (refused or dropped connection, HTTP 5xx, timeout) is skipped; then a cheap probe (`GET /api/tags`) must answer before it takes traffic again. While every server cools down, requests fall back as when the one server fails.',
  }),
  LOCAL_MODEL: v({
    schema: z.string().min(1),
    default: 'llama3.2:3b',
    example: 'qwen2.5:7b-instruct',
    description: 'Ollama model that answers locally routed requests.',
  }),
  LOCAL_MODEL_VERSION: v({
    schema: z.string().min(1).max(100),
    default: '1',
    example: '2026-11-fine-tune',
    description:
      'Part of every cache key: bump it after retraining or swapping the local model and old answers stop matching (no flush needed).',
  }),
  LOCAL_TIMEOUT: v({
    schema: duration(),
    default: '20s',
    example: '10s',
    description: 'A local answer slower than this falls back to the frontier model.',
  }),
  MODEL_OUTAGE_WAIT: v({
    schema: duration(),
    default: '5m',
    example: '0s',
    description:
      'How long a generation waits, without spending attempts, while no model server can be reached (refused or dropped connections; a model that answers badly is not an outage). Its status shows `waiting` with the last error meanwhile; after this it fails as usual (`generation.failed`). `0s`: never wait.',
  }),
  EMBED_MODEL: v({
    schema: z.string().min(1),
    default: 'nomic-embed-text',
    example: 'nomic-embed-text',
    description: 'Ollama embedding model for the semantic cache; part of every cache key.',
  }),
  EMBED_DIMENSIONS: v({
    schema: z.coerce.number().int().min(8).max(8192),
    default: '768',
    example: '1024',
    description: 'Length of the vectors `EMBED_MODEL` returns (nomic-embed-text: 768).',
  }),
  FRONTIER_URL: v({
    schema: url(['http', 'https']),
    optional: true,
    example: 'https://api.openai.com/v1',
    description:
      'OpenAI-compatible chat API (OpenAI, Groq, OpenRouter, …) for the paid fallback. Unset: no fallback; a failed local answer fails the job.',
  }),
  FRONTIER_API_KEY: v({
    schema: z.string().min(1),
    optional: true,
    secret: true,
    example: 'sk-…',
    description: 'Bearer key for `FRONTIER_URL`.',
  }),
  FRONTIER_MODEL: v({
    schema: z.string().min(1),
    default: 'gpt-4o-mini',
    example: 'llama-3.3-70b-versatile',
    description: 'Model asked at `FRONTIER_URL`.',
  }),
  FRONTIER_TIMEOUT: v({
    schema: duration(),
    default: '60s',
    example: '30s',
    description: 'A frontier call slower than this fails the attempt (the job retries).',
  }),
  MODEL_PRICES: v({
    schema: jsonRecord(
      z.object({ input: z.number().nonnegative(), output: z.number().nonnegative() }).strict(),
    ),
    default: '{"gpt-4o-mini":{"input":0.15,"output":0.6}}',
    example: '{"gpt-4o-mini":{"input":0.15,"output":0.6},"gpt-4o":{"input":2.5,"output":10}}',
    description:
      'USD per million input/output tokens, by model, for the cost recorded with every generation. The local model costs 0.',
  }),
  COSTS: v({
    schema: costsField(),
    default: '{}',
    example: '{"fleetBoxUsdPerMonth":40,"modelBox":{"min":2}}',
    description:
      'The price sheet of the cost rollup, merged over its defaults: `fleetBoxUsdPerMonth` (20), `databaseUsdPerMonth` (0), `modelBox` `{usdPerMonth: 26, outputTokensPerSecond: 20, min: 1}`, `storage` `{usdPerGbMonth: 0.015, freeGb: 10, usdPerMillionWrites: 4.5, usdPerMillionReads: 0.36}`, and the plan limits the dashboard measures headroom against, `limits` `{postgresGb: 40, redisMb: 1024}`. Tokens are priced by `MODEL_PRICES`. See "Cost per active user".',
  }),
  CPAU_TARGET_USD: v({
    schema: cpauTargetField(),
    default: '0.01',
    example: '0.005',
    description:
      'The top of the CPAU band, in USD per active user per day (default: the top of the seeds\' $0.003–0.01 band): the dashboard shows a day above it in red, and yesterday\'s CPAU above it fires the `cpau-above-target` alert. See "The dashboard" and "Alerts".',
  }),
  ALERT_WEBHOOK_URL: v({
    schema: url(['http', 'https']),
    optional: true,
    example: 'https://ops.example.com/hooks/lowburn',
    description:
      'Where `alert.triggered`, `alert.resolved` and `digest.daily` events go, signed (Standard Webhooks) with `ALERT_WEBHOOK_SECRET` through the webhook delivery (retries, dead letters, SSRF checks). Unset: alerts and the digest are log lines only.',
  }),
  ALERT_WEBHOOK_SECRET: v({
    schema: z.string().regex(/^whsec_[A-Za-z0-9+/]{22,}={0,2}$/, {
      message: 'must be whsec_ followed by the base64 of at least 16 random bytes',
    }),
    optional: true,
    secret: true,
    example: 'whsec_$(openssl rand -base64 32)',
    description:
      'The `whsec_` secret that signs operator events; required with `ALERT_WEBHOOK_URL`. Stored sealed (`SECRETS_KEY`) on the `lowburn operator alerts` system key, which never authenticates.',
  }),
  ALERT_CRON: v({
    schema: cron(),
    default: '* * * * *',
    example: '*/5 * * * *',
    description:
      'When `check-alerts` evaluates the alert conditions, as a cron pattern in `SCHEDULE_TZ`.',
  }),
  ALERT_JOB_GRACE: v({
    schema: duration(),
    default: '15m',
    example: '30m',
    description:
      'How long past its scheduled time a nightly job (export-cold, precompute-cache, export-finetune, rollup-usage) may wait for a worker before the `nightly-job` alert calls it missed.',
  }),
  DIGEST_CRON: v({
    schema: cron(),
    default: '0 8 * * *',
    example: '30 7 * * 1-5',
    description:
      'When `send-digest` reports the last complete UTC day (CPAU, cost split, active users, hit rates, fallback share, alerts) as a log line and a `digest.daily` event, as a cron pattern in `SCHEDULE_TZ`.',
  }),
  USER_DAILY_BUDGET_USD: v({
    schema: z.coerce.number().positive().max(1_000_000),
    optional: true,
    example: '0.50',
    description:
      'Soft daily budget of each end user\'s frontier (paid) token spend, in USD: past it their requests are answered by the local model only (a failed local answer fails the job, `fallback_reason` `budget`) and a warning is logged once that day. Days start at midnight in `SCHEDULE_TZ`. Unset: off. An API key may override it (`lowburn keys budget`). See "Budgets".',
  }),
  USER_DAILY_BUDGET_USD_HARD: v({
    schema: z.coerce.number().positive().max(1_000_000),
    optional: true,
    example: '2',
    description:
      "Hard daily budget of each end user's frontier token spend, in USD: past it the API answers their `POST /v1/generations` with `429`, saying which budget and when it resets. Unset: off. An API key may override it.",
  }),
  CACHE_TTL_EXACT: v({
    schema: duration(),
    default: '24h',
    example: '7d',
    description: 'Lifetime of exact-match (and template) cache entries.',
  }),
  CACHE_TTL_SEMANTIC: v({
    schema: duration(),
    default: '1h',
    example: '6h',
    description: 'Lifetime of semantic cache entries.',
  }),
  SEMANTIC_MAX_ENTRIES: v({
    schema: z.coerce.number().int().min(0),
    default: '20000',
    example: '50000',
    description:
      "Most semantic cache entries one namespace (task type × model × template × schema × scope) keeps, fleet-wide; past it the least recently hit entries are evicted for every worker. Each worker that runs `generate` holds every entry in memory (~2.8 KB each at 768 dimensions), so this is that memory's ceiling per namespace. `0`: no cap.",
  }),
  CACHE_TTL_PRECOMPUTED: v({
    schema: duration(),
    default: '24h',
    example: '26h',
    description: 'Lifetime of answers the nightly precompute writes.',
  }),
  SEMANTIC_MIN_SCORE: v({
    schema: jsonRecord(z.number().min(0).max(1)),
    default: '{"*":0.95}',
    example: '{"*":0.95,"qa":0.97,"classification":0.9}',
    description:
      'Cosine similarity a semantic hit needs, by task type (`*` for the rest). A hit is refused anyway when the prompts differ in a number or a quoted string.',
  }),
  SEMANTIC_MAX_FALSE_HIT: v({
    schema: z.coerce.number().min(0).max(1),
    default: '0.05',
    example: '0.02',
    description:
      'Highest share of wrong semantic hits (as the nightly `audit-cache` measures them) a task type may have: above it the audit logs a warning naming the task type and the `SEMANTIC_MIN_SCORE` to raise.',
  }),
  AUDIT_SAMPLE_RATE: v({
    schema: z.coerce.number().gt(0, { message: 'must be more than 0' }).max(1),
    default: '0.01',
    example: '0.05',
    description:
      "Share of a day's semantic hits `audit-cache` asks the local model again (rounded up, so a day with any hit audits at least one; at most `AUDIT_MAX_SAMPLES`).",
  }),
  AUDIT_MAX_SAMPLES: v({
    schema: z.coerce.number().int().min(1).max(100_000),
    default: '200',
    example: '500',
    description:
      'Most semantic hits one audit asks again: each costs a local model call and an embedding, in the night after the precompute.',
  }),
  AUDIT_MIN_SIMILARITY: v({
    schema: z.coerce.number().min(0).max(1),
    default: '0.9',
    example: '0.85',
    description:
      "Cosine similarity (`EMBED_MODEL`) the local model's fresh answer needs to the cached answer served for a text hit to count as right (answers to a `responseFormat` must be equal JSON instead). Below `SEMANTIC_MIN_SCORE` on purpose: one model's two answers to one question differ more in wording than two phrasings of a question do, and a bar as high would count rewording as a false hit.",
  }),
  SHADOW_SAMPLE_RATE: v({
    schema: z.coerce.number().min(0).max(1),
    default: '0',
    example: '0.02',
    description:
      'Share of the answers the local model gave (not cache hits, not fallbacks) also asked of the frontier model by the low-priority `shadow-compare` job, to measure how often the two agree (`shadow_comparisons`, `lowburn finetune report`). The caller never waits for it; the shadow calls are paid and counted apart from the generations. 0 turns it off, and so does having no `FRONTIER_URL`.',
  }),
  SHADOW_MIN_SIMILARITY: v({
    schema: z.coerce.number().min(0).max(1),
    default: '0.9',
    example: '0.85',
    description:
      'Cosine similarity (`EMBED_MODEL`) the local and the frontier answer to a text request need to agree in a shadow comparison (answers to a `responseFormat` must be equal JSON instead).',
  }),
  ROUTE_LOCAL_TASKS: v({
    schema: z.string().transform((s) =>
      s
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean),
    ),
    default: 'summary,classification,formatting,extraction,translation',
    example: 'summary,classification',
    description: 'Task types the local model answers when their input is short enough.',
  }),
  ROUTE_LOCAL_MAX_CHARS: v({
    schema: z.coerce.number().int().min(1),
    default: '6000',
    example: '12000',
    description: 'Longest input (characters) routed to the local model.',
  }),
  ROUTE_REASONING_TASKS: v({
    schema: z.string().transform((s) =>
      s
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean),
    ),
    default: 'qa,diagnosis',
    example: 'qa',
    description:
      'Task types routed locally only below `ROUTE_COMPLEXITY_MAX`; everything else goes to the frontier model.',
  }),
  ROUTE_COMPLEXITY_MAX: v({
    schema: z.coerce.number().min(0).max(1),
    default: '0.4',
    example: '0.5',
    description:
      'Complexity score (0–1: length, questions, code, multi-step wording) below which a reasoning task stays local.',
  }),
  PRECOMPUTE_CRON: v({
    schema: cron(),
    default: '0 3 * * *',
    example: '30 4 * * *',
    description:
      "When `precompute-cache` answers tomorrow's most frequent prompts ahead of demand, as a cron pattern in `SCHEDULE_TZ`.",
  }),
  PRECOMPUTE_WINDOW: v({
    schema: duration(),
    default: '7d',
    example: '3d',
    description:
      'How far back the precompute ranks prompts: hot rows from Postgres and older days from cold Parquet, in one DuckDB query.',
  }),
  PRECOMPUTE_TOP_N: v({
    schema: z.coerce.number().int().min(1).max(100_000),
    default: '1000',
    example: '5000',
    description: 'Most cache keys one precompute answers.',
  }),
  PRECOMPUTE_MIN_USERS: v({
    schema: z.coerce.number().int().min(1).max(1_000),
    default: '2',
    example: '5',
    description:
      "Distinct users who must have asked a prompt before it is precomputed, so one user's private prompt is never answered into a shared cache.",
  }),
  PRECOMPUTE_FRESH_FOR: v({
    schema: duration(),
    default: '6h',
    example: '12h',
    description:
      'A key whose precomputed or exact entry has more than this left is not generated again.',
  }),
  PRECOMPUTE_ALLOW_FRONTIER: v({
    schema: flag(),
    default: 'false',
    example: 'true',
    description:
      'Let the precompute ask the paid model when the local answer fails (capped by `PRECOMPUTE_BUDGET_USD`). Off: local answers only.',
  }),
  PRECOMPUTE_BUDGET_USD: v({
    schema: z.coerce.number().min(0).max(10_000),
    default: '1',
    example: '0.25',
    description:
      'Most one precompute spends on the paid model (with `PRECOMPUTE_ALLOW_FRONTIER`); past it, local answers only.',
  }),
  PRECOMPUTE_BUDGET_TIME: v({
    schema: duration().refine((ms) => ms <= 12 * 3_600_000, 'must be at most 12h'),
    default: '2h',
    example: '30m',
    description:
      'Wall-clock budget of one precompute (at most 12h): after it no new key is started, and the run reports what it skipped.',
  }),
  PRECOMPUTE_CONCURRENCY: v({
    schema: z.coerce.number().int().min(1).max(64),
    default: '2',
    example: '4',
    description:
      'Keys answered at once. They run as `generate` jobs at a lower priority than live requests, so a night user never waits behind the precompute.',
  }),
  FINETUNE_CRON: v({
    schema: cron(),
    default: '0 4 * * 0',
    example: '0 5 * * 1',
    description:
      "When `export-finetune` writes the week's training files (Sunday 04:00 by default), as a cron pattern in `SCHEDULE_TZ`.",
  }),
  FINETUNE_WINDOW: v({
    schema: duration(),
    default: '30d',
    example: '14d',
    description:
      'How far back a fine-tune export reads `generations` (hot rows and cold Parquet) when not given `--since`.',
  }),
  FINETUNE_INCLUDE: v({
    schema: includeList(),
    optional: true,
    example: 'frontier-routed,local-validated',
    description:
      'Sources the scheduled export adds to the fallback pairs (answers the paid model gave after the local one failed): `frontier-routed` (requests routed straight to the paid model), `local-validated` (local answers a shadow comparison checked; disagreements with the paid answer).',
  }),
  FINETUNE_MAX_TOKENS: v({
    schema: z.coerce.number().int().min(64).max(1_000_000),
    default: '4096',
    example: '65536',
    description:
      'Longest training example in tokens (o200k_base, as OpenAI counts them); longer ones are dropped and counted, never truncated. 4096 suits most LoRA trainers; OpenAI takes 65,536 for gpt-4o-mini.',
  }),
  FINETUNE_SCRUB_PATTERNS: v({
    schema: scrubPatterns(),
    optional: true,
    example: '{"ORDER_ID":"ord_[0-9a-z]{12}","CUSTOMER":"cus_[A-Za-z0-9]{14}"}',
    description:
      "The app's own identifiers to scrub from training files on top of the built-in PII classes: a JSON object of placeholder name → regular expression (`<ORDER_ID>`).",
  }),
  HOT_RETENTION: v({
    schema: duration(),
    default: '24h',
    example: '48h',
    description:
      'How long rows stay in Postgres. `export-cold` moves every day partition entirely older than this to Parquet.',
  }),
  EXPORT_CRON: v({
    schema: cron(),
    default: '30 0 * * *',
    example: '15 2 * * *',
    description: 'When `export-cold` runs, as a cron pattern in `SCHEDULE_TZ`.',
  }),
  ERASE_CRON: v({
    schema: cron(),
    default: '30 5 * * 0',
    example: '0 6 * * *',
    description:
      'When `apply-erasures` rewrites the cold Parquet files (and fine-tune sets) holding users whose erasure is recorded, all pending erasures at once (Sunday 05:30 by default: after the export, the precompute and the fine-tune export), as a cron pattern in `SCHEDULE_TZ`. `lowburn users erase --apply-now` runs it at once.',
  }),
  EXPORT_ROWS_PER_FILE: v({
    schema: z.coerce.number().int().min(1_000).max(100_000_000),
    default: '1000000',
    example: '500000',
    description:
      'Most rows per Parquet file; a larger day is split into `part-00000`, `part-00001`, ….',
  }),
  EXPORT_DROP_GRACE: v({
    schema: duration(),
    default: '0s',
    example: '7d',
    description:
      'How long a verified day partition is kept in Postgres before it is dropped (queries read it from cold storage meanwhile).',
  }),
  EXPORT_WORK_DIR: v({
    schema: z.string().min(1),
    default: '/tmp/lowburn/export',
    example: '/var/lib/lowburn/export',
    description:
      'Local folder where Parquet files are written before upload; needs room for one day of one table (~10 MB per million telemetry rows).',
  }),
  COLD_CACHE_DIR: v({
    schema: z.string().min(1),
    default: '/tmp/lowburn/cold-cache',
    example: '/home/me/.cache/lowburn',
    description:
      '`lowburn query` keeps the cold Parquet files it fetched here and reuses them (verified by size and SHA-256).',
  }),
  DUCKDB_MEMORY_LIMIT: v({
    schema: z.string().regex(/^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$/i, {
      message: 'must be a size such as 256MB or 1GiB',
    }),
    default: '64MB',
    example: '512MB',
    description:
      'DuckDB `memory_limit` for exports and queries; past it DuckDB spills to disk instead of growing. 64MB keeps an export under ~270 MB of RSS at no cost in speed; raise it for big ad hoc queries.',
  }),
  DUCKDB_THREADS: v({
    schema: z.coerce.number().int().min(1).max(64),
    default: '2',
    example: '4',
    description: 'DuckDB threads for exports and queries.',
  }),
  API_PORT: v({
    schema: port(),
    default: '3000',
    example: '3000',
    description: 'Port of the thin API (`lowburn api`).',
  }),
  API_MAX_BODY_KB: v({
    schema: z.coerce.number().int().min(1).max(10_240),
    default: '256',
    example: '256',
    description: 'Largest request body the API reads; bigger bodies get 413.',
  }),
  RATE_LIMIT_PER_KEY: v({
    schema: z.coerce.number().int().min(1),
    default: '500',
    example: '200',
    description: 'Requests per second one API key may make (the main app usually has one key).',
  }),
  RATE_LIMIT_PER_USER: v({
    schema: z.coerce.number().int().min(1),
    default: '60',
    example: '30',
    description: 'Requests per minute one end user (`userId`) may make.',
  }),
  RATE_LIMIT_USER_TIERS: v({
    schema: z.string().regex(/^(\d+:\d+(\s*,\s*\d+:\d+)*)?$/, {
      message: 'must be a list like 1000:20,5000:5 (requests in the last hour : per-minute limit)',
    }),
    default: '1000:20,5000:5',
    example: '500:30,2000:10',
    description:
      'Lower per-minute limits for heavy users: after N requests in the last hour, M per minute.',
  }),
  AUTH_FAILURES_PER_IP: v({
    schema: z.coerce.number().int().min(1),
    default: '20',
    example: '10',
    description: 'Failed authentications one client IP may make per 5 minutes before 429.',
  }),
  API_KEY_CACHE_TTL: v({
    schema: duration(),
    default: '5s',
    example: '5s',
    description:
      'How long the API trusts a cached key lookup: the longest a revoked key keeps working.',
  }),
  API_KEY_STALE_IF_ERROR: v({
    schema: duration(),
    default: '10m',
    example: '0s',
    description:
      'While Postgres cannot be reached, how long past its TTL a cached key lookup is still honoured, so the API keeps queueing work for the keys it knows through a database outage (a key revoked meanwhile works until then). 0s turns it off.',
  }),
  IDEMPOTENCY_TTL: v({
    schema: duration(),
    default: '24h',
    example: '48h',
    description:
      'How long an `Idempotency-Key` is remembered; `prune-ledgers` deletes expired keys daily.',
  }),
  TELEMETRY_FLUSH_EVERY: v({
    schema: duration(),
    default: '10s',
    example: '10s',
    description: 'How often `flush-telemetry` writes the buffered pings to Postgres.',
  }),
  TELEMETRY_BATCH_SIZE: v({
    schema: z.coerce.number().int().min(1).max(50_000),
    default: '5000',
    example: '5000',
    description:
      'About this many pings per batched write (whole ingest requests, so up to 999 more; one COPY, or INSERT … ON CONFLICT, per batch).',
  }),
  TELEMETRY_FLUSH_BUDGET: v({
    schema: duration(),
    default: '8s',
    example: '30s',
    description: 'How long one flush may keep draining a backlog before it yields to the next run.',
  }),
  TELEMETRY_BUFFER_CAP: v({
    schema: z.coerce.number().int().min(1),
    default: '1000000',
    example: '2000000',
    description:
      'Most unflushed pings the Redis stream may hold; past it ingest answers 503 (never trims).',
  }),
  WEBHOOK_RETRY_SCHEDULE: v({
    schema: retrySchedule(),
    default: '0s,5s,5m,30m,2h,5h,10h,10h',
    example: '0s,10s,1m,10m,1h',
    description:
      'Delays before each webhook attempt (the first is immediate, so it starts with `0s`); after the last one fails the delivery is dead-lettered.',
  }),
  WEBHOOK_RETRY_AFTER_MAX: v({
    schema: duration(),
    default: '1h',
    example: '6h',
    description:
      "Longest a receiver's `Retry-After` may postpone the next attempt beyond the schedule's own delay.",
  }),
  WEBHOOK_TIMEOUT: v({
    schema: duration().refine((ms) => ms >= 100 && ms <= 30_000, {
      message: 'must be between 100ms and 30s',
    }),
    default: '15s',
    example: '10s',
    description:
      'Whole-request limit of one webhook attempt (connect, send, headers and body, a slow drip included).',
  }),
  WEBHOOK_MAX_RESPONSE_KB: v({
    schema: z.coerce.number().int().min(1).max(1_024),
    default: '64',
    example: '16',
    description:
      "Most of a receiver's response body that is read; the connection is dropped after that.",
  }),
  WEBHOOK_ALLOW_LIST: v({
    schema: addressList({ names: true }),
    optional: true,
    example: '127.0.0.1/32',
    description:
      'Addresses, CIDRs or host names webhooks may reach even though they are not public (tests, a local receiver). Everything else non-public is refused at connect time.',
  }),
  WEBHOOK_BLOCKED_RANGES: v({
    schema: addressList({ names: false }),
    optional: true,
    example: '203.0.113.0/24,2001:db8::/32',
    description:
      'Addresses or CIDRs webhooks must never reach on top of every non-public range (an internal network on public addresses).',
  }),
  WEBHOOK_ALLOW_HTTP: v({
    schema: flag(),
    default: 'false',
    example: 'true',
    description:
      'Allow clear-text `http:` webhook URLs. Development and tests only; refused when NODE_ENV=production.',
  }),
  WEBHOOK_RETENTION: v({
    schema: duration().refine((ms) => ms >= 3_600_000, { message: 'must be at least 1h' }),
    default: '30d',
    example: '90d',
    description:
      'How long a finished webhook delivery (succeeded, failed, dead or disabled) stays in the ledger with its attempts after its last change; `prune-ledgers` deletes older ones daily. Pending deliveries are never deleted; a pruned one can no longer be replayed.',
  }),
  WEBHOOK_ENDPOINT_CONCURRENCY: v({
    schema: z.coerce.number().int().min(1).max(1_000),
    default: '10',
    example: '4',
    description:
      "Attempts one endpoint (an API key and a URL origin) may have queued or in flight at once, fleet-wide. Deliveries past it wait in Postgres, so a dead endpoint's backlog holds at most this many worker slots and Redis entries.",
  }),
  WEBHOOK_DISABLE_AFTER: v({
    schema: duration().refine((ms) => ms >= 1, { message: 'must be longer than 0' }),
    default: '5d',
    example: '3d',
    description:
      'An endpoint whose attempts have all failed for this long is disabled: its pending deliveries end `disabled` (replayable; a replay re-enables it) and a warning names the key and URL.',
  }),
  WEBHOOK_DISPATCH_EVERY: v({
    schema: duration().refine((ms) => ms >= 100 && ms <= 60_000, {
      message: 'must be between 100ms and 1m',
    }),
    default: '1s',
    example: '2s',
    description:
      'How often `dispatch-webhooks` moves due deliveries waiting in Postgres (retries, and deliveries past the endpoint concurrency) into the queue. A retry is sent at most this much after its due time.',
  }),
  BOARD_PORT: v({
    schema: port(),
    default: '3001',
    example: '3001',
    description: 'Port of Bull Board and the cost dashboard.',
  }),
  BOARD_USERNAME: v({
    schema: z.string().min(1),
    default: 'admin',
    example: 'ops',
    description: "The board operator's user name (full control of the queues).",
  }),
  BOARD_PASSWORD: v({
    schema: z.string().min(12, { message: 'must be at least 12 characters' }),
    optional: true,
    secret: true,
    example: 'a-long-random-password',
    description:
      "The board operator's password; required by `lowburn board` (only) in production. Unset outside production: no sign-in, everyone is an operator (with a warning).",
  }),
  BOARD_VIEWER_USERNAME: v({
    schema: z.string().min(1),
    default: 'viewer',
    example: 'support',
    description: "The board's read-only user name; must differ from `BOARD_USERNAME`.",
  }),
  BOARD_VIEWER_PASSWORD: v({
    schema: z.string().min(12, { message: 'must be at least 12 characters' }),
    optional: true,
    secret: true,
    example: 'another-long-random-password',
    description:
      "The board's read-only login: sees every queue, cannot retry, remove, pause, clean, promote or add (the server answers 403). Unset: no viewer login. Must differ from `BOARD_PASSWORD`.",
  }),
  BOARD_SESSION_SECRET: v({
    schema: z.string().min(32, { message: 'must be at least 32 characters' }),
    optional: true,
    secret: true,
    example: '$(openssl rand -base64 32)',
    description:
      "Signs the board's session cookies (HMAC-SHA256). Unset: a key derived from the board's passwords, so changing a password signs everyone out.",
  }),
  BOARD_SESSION_TTL: v({
    schema: duration(),
    default: '12h',
    example: '8h',
    description: 'How long a board sign-in lasts.',
  }),
  BOARD_LOGIN_FAILURES_PER_IP: v({
    schema: z.coerce.number().int().min(1),
    default: '10',
    example: '5',
    description:
      'Failed board sign-ins one client IP may make per 15 minutes before 429 (a success does not reset the count).',
  }),
  BOARD_READ_ONLY: v({
    schema: flag(),
    default: 'false',
    example: 'true',
    description:
      'Read-only for everyone, the operator too: queues without retry/remove/pause buttons.',
  }),
} satisfies Record<string, EnvVar>;

export type EnvName = keyof typeof envSpec;
