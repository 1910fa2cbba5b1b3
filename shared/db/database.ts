import type { ColumnType, Generated, GeneratedAlways } from 'kysely';
import type { DayUsage } from '../usage/day-usage.ts';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type DefaultTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
/** `date` columns come back as `YYYY-MM-DD` strings (see the type parser in create-db.ts). */
type Day = ColumnType<string, string, string>;
/** `bigint` and `numeric` come back as strings from pg; lowburn parses them where it sums them. */
type BigNumber = ColumnType<string, string | number | bigint, string | number | bigint>;
/**
 * `jsonb`: read as parsed JSON, written as a JSON string (`JSON.stringify`) — pg would send a
 * JS array as a Postgres array literal, which jsonb rejects.
 */
type Jsonb<T> = ColumnType<T, string, string>;
type NullableJsonb<T> = ColumnType<T | null, string | null | undefined, string | null>;
type Json = Jsonb<Record<string, unknown>>;

export interface TelemetryTable {
  ping_id: string;
  device_id: string;
  user_id: string | null;
  ts: Timestamp;
  metric: string;
  value: number;
  attrs: NullableJsonb<Record<string, unknown>>;
  received_at: DefaultTimestamp;
}

export interface GenerationsTable {
  id: string;
  created_at: Timestamp;
  api_key_id: string | null;
  user_id: string;
  task_type: string;
  prompt: string;
  prompt_hash: string;
  request: Json;
  response: string | null;
  status: 'completed' | 'failed';
  cache_layer: 'precomputed' | 'exact' | 'template' | 'semantic' | null;
  route: 'local' | 'frontier' | null;
  model: string | null;
  tokens_in: Generated<number>;
  tokens_out: Generated<number>;
  cost_usd: ColumnType<string, string | number | undefined, string | number>;
  latency_ms: number | null;
  error: string | null;
  metadata: NullableJsonb<Record<string, unknown>>;
  /**
   * Why the local answer was not used when the frontier answered after it (migration 0011), or
   * `budget`: the local answer failed and the user's soft daily budget kept the frontier model
   * from being asked (a failed row; migration 0014).
   */
  fallback_reason: ColumnType<FallbackReason | null, FallbackReason | null | undefined>;
}

/** `generations.fallback_reason`. */
export type FallbackReason = 'error' | 'timeout' | 'invalid' | 'budget';

export type ExportState = 'pending' | 'written' | 'uploaded' | 'verified' | 'dropped' | 'failed';

export interface ExportRunsTable {
  table_name: string;
  day: Day;
  state: ColumnType<ExportState, ExportState | undefined, ExportState>;
  rows: BigNumber | null;
  bytes: BigNumber | null;
  files: ColumnType<unknown[], string | undefined, string>;
  manifest_key: string | null;
  attempts: Generated<number>;
  error: string | null;
  started_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
  finished_at: Timestamp | null;
  verified_at: Timestamp | null;
  columns: ColumnType<unknown[], string | undefined, string>;
  /** Erasures applied to the day's files (migration 0018): keyed hashes and counts. */
  erasures: ColumnType<unknown[], string | undefined, string>;
}

export type ApiScope = 'generate' | 'telemetry' | 'read' | 'admin';

export interface ApiKeysTable {
  id: Generated<string>;
  name: string;
  prefix: string;
  key_hash: string;
  scopes: ApiScope[];
  /** Which key sealed `webhook_secret_sealed` (shared/secrets/secret-key.ts). */
  webhook_secret_key_id: string;
  /** The `whsec_` secret, AES-256-GCM, bound to this row (migration 0006); pg reads a Buffer. */
  webhook_secret_sealed: Uint8Array;
  /** Keys with the same scope share cached answers; NULL: a scope of this key's own. */
  cache_scope: string | null;
  /** This key's users' soft daily budget in USD; NULL: `USER_DAILY_BUDGET_USD` (migration 0014). */
  daily_budget_usd: ColumnType<
    string | null,
    string | number | null | undefined,
    string | number | null
  >;
  /** The hard one; NULL: `USER_DAILY_BUDGET_USD_HARD`. */
  daily_budget_usd_hard: ColumnType<
    string | null,
    string | number | null | undefined,
    string | number | null
  >;
  created_at: DefaultTimestamp;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

export interface IdempotencyKeysTable {
  api_key_id: string;
  key: string;
  request_hash: string;
  job_id: string | null;
  response_status: number | null;
  response_body: NullableJsonb<Record<string, unknown>>;
  created_at: DefaultTimestamp;
  expires_at: Timestamp;
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed' | 'dead' | 'disabled';

export interface WebhookDeliveriesTable {
  id: string;
  api_key_id: string | null;
  job_id: string;
  event_type: string;
  url: string;
  payload: Json;
  status: ColumnType<DeliveryStatus, DeliveryStatus | undefined, DeliveryStatus>;
  attempts: Generated<number>;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: Timestamp | null;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
  delivered_at: Timestamp | null;
  /** Which schedule this is: 0, then + 1 per replay (see migration 0004). */
  run: Generated<number>;
  /** Attempts in the current run: the position in the retry schedule. */
  run_attempts: Generated<number>;
  /** The URL's origin, lower-cased (computed by Postgres; see migration 0006). */
  endpoint: GeneratedAlways<string>;
}

/** Per key and URL origin: how its attempts have been going (see migration 0006). */
export interface WebhookEndpointsTable {
  api_key_id: string;
  endpoint: string;
  /** The first failed attempt since the last success; `NULL` while it succeeds. */
  failing_since: Timestamp | null;
  /** Set when it failed for `WEBHOOK_DISABLE_AFTER`; a replay clears it. */
  disabled_at: Timestamp | null;
}

/** A URL that answered `410 Gone` for a key: nothing more is sent there for that key. */
export interface WebhookDisabledUrlsTable {
  api_key_id: string;
  url: string;
  delivery_id: string | null;
  disabled_at: DefaultTimestamp;
}

export interface WebhookAttemptsTable {
  delivery_id: string;
  attempt: number;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
  attempted_at: DefaultTimestamp;
}

/** A local answer also asked of the frontier model, and whether they agreed (migration 0011). */
export interface ShadowComparisonsTable {
  generation_id: string;
  created_at: DefaultTimestamp;
  task_type: string;
  local_model: string;
  local_digest: string | null;
  frontier_model: string;
  agreed: boolean;
  similarity: number | null;
  frontier_answer: string;
  tokens_in: Generated<number>;
  tokens_out: Generated<number>;
  cost_usd: ColumnType<string, string | number | undefined, string | number>;
}

/** A local model version first run by the fleet (migration 0012). */
export interface ModelVersionsTable {
  id: Generated<string>;
  local_model: string;
  model_version: string;
  digest: string;
  first_seen_at: DefaultTimestamp;
  /** The version seen last before this one; NULL for the first ever recorded. */
  previous_model: string | null;
  previous_version: string | null;
  previous_digest: string | null;
}

export type PrecomputeRunState = 'running' | 'finished' | 'failed' | 'abandoned';

/** One nightly precompute (migration 0009); the counts are updated as the run goes. */
export interface PrecomputeRunsTable {
  id: string;
  state: ColumnType<PrecomputeRunState, PrecomputeRunState | undefined, PrecomputeRunState>;
  window_from: Timestamp;
  window_to: Timestamp;
  candidates: Generated<number>;
  skipped_fresh: Generated<number>;
  generated_local: Generated<number>;
  generated_frontier: Generated<number>;
  invalid: Generated<number>;
  failed: Generated<number>;
  skipped_budget: Generated<number>;
  tokens_in: Generated<string>;
  tokens_out: Generated<string>;
  cost_usd: ColumnType<string, string | number | undefined, string | number>;
  stopped_by: 'time' | 'cancelled' | null;
  error: string | null;
  started_at: DefaultTimestamp;
  finished_at: Timestamp | null;
  wall_ms: number | null;
}

export interface UsageDailyTable {
  day: Day;
  user_id: string;
  api_calls: Generated<string>;
  generations: Generated<string>;
  tokens_in: Generated<string>;
  tokens_out: Generated<string>;
  cost_usd: Generated<string>;
  cache_hits: ColumnType<Record<string, number>, string | undefined, string>;
  local_calls: Generated<string>;
  frontier_calls: Generated<string>;
  telemetry_pings: Generated<string>;
  db_writes: Generated<string>;
  updated_at: DefaultTimestamp;
  /** `''` where no key is known (telemetry); see migration 0013 for the rest. */
  api_key_id: Generated<string>;
  api_calls_by_route: ColumnType<Record<string, number>, string | undefined, string>;
  /** precomputed / exact / template / semantic / local / frontier / fallback:<reason> / failed. */
  generations_by_layer: ColumnType<Record<string, number>, string | undefined, string>;
  tokens_by_model: ColumnType<
    Record<string, { in: number; out: number; usd: number }>,
    string | undefined,
    string
  >;
  /** telemetry / generations / ledgers. */
  rows_written: ColumnType<Record<string, number>, string | undefined, string>;
  webhook_deliveries: Generated<string>;
}

/** What a day cost, by component, and per active user (migration 0013). */
export interface CostDailyTable {
  day: Day;
  active_users: number;
  token_usd: BigNumber;
  fleet_usd: BigNumber;
  database_usd: BigNumber;
  model_usd: BigNumber;
  storage_usd: BigNumber;
  requests_usd: BigNumber;
  total_usd: BigNumber;
  cpau_usd: ColumnType<string | null, string | number | null, string | number | null>;
  model_boxes: number;
  local_output_tokens: BigNumber;
  storage_bytes: BigNumber;
  storage_writes: BigNumber;
  /** The price sheet the day was costed by. */
  costs: Json;
  updated_at: DefaultTimestamp;
  /** The day's usage summed over its `usage_daily` rows (migration 0016). */
  usage: ColumnType<DayUsage, string | undefined, string>;
}

/** One audited day and task type of the semantic cache (see migration 0010). */
export interface CacheAuditsTable {
  day: Day;
  task_type: string;
  /** Semantic hits of the day for this task type. */
  semantic_hits: number;
  /** Of those, asked again. */
  sampled: number;
  /** Of those, judged (the local model gave a usable answer): the rate's denominator. */
  sample_size: number;
  false_hits: number;
  /** NULL when nothing could be judged. */
  false_hit_rate: number | null;
  ci_low: number | null;
  ci_high: number | null;
  min_similarity: number;
  max_false_hit: number;
  job_id: string | null;
  audited_at: DefaultTimestamp;
}

/** An operator alert: a condition that fired on a day, and when it resolved (migration 0015). */
export interface AlertsTable {
  condition: string;
  day: Day;
  fired_at: DefaultTimestamp;
  details: ColumnType<Record<string, unknown>, string, string>;
  triggered_sent_at: Timestamp | null;
  resolved_at: Timestamp | null;
  resolved_details: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  resolved_sent_at: Timestamp | null;
}

/** A request to erase one user everywhere (migration 0017): the erasure ledger. */
export interface ErasuresTable {
  id: string;
  /** In clear while work is left; NULL once `done` (only `user_hash` stays). */
  user_id: string | null;
  user_hash: string;
  device_ids: ColumnType<string[], string[] | undefined, string[]>;
  status: ColumnType<
    'pending' | 'hot-done' | 'done',
    'pending' | undefined,
    'pending' | 'hot-done' | 'done'
  >;
  requested_by: string | null;
  requested_at: DefaultTimestamp;
  hot_done_at: Timestamp | null;
  cold_done_at: Timestamp | null;
  counts: ColumnType<Record<string, unknown>, string | undefined, string>;
}

/** A cold file rewritten without erased users (migration 0018), keyed by the file it replaces. */
export interface ErasureFilesTable {
  table_name: string;
  day: Day;
  old_key: string;
  new_key: string;
  state: 'written' | 'uploaded' | 'verified' | 'committed' | 'deleted';
  old_rows: BigNumber;
  rows: BigNumber;
  bytes: BigNumber;
  sha256: string;
  /** Rows removed per erasure id. */
  removed: ColumnType<Record<string, number>, string | undefined, string>;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

/** The typed schema kysely checks every query against. */
export interface Database {
  telemetry: TelemetryTable;
  telemetry_late: TelemetryTable;
  generations: GenerationsTable;
  generations_late: GenerationsTable;
  export_runs: ExportRunsTable;
  api_keys: ApiKeysTable;
  idempotency_keys: IdempotencyKeysTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  webhook_disabled_urls: WebhookDisabledUrlsTable;
  webhook_endpoints: WebhookEndpointsTable;
  usage_daily: UsageDailyTable;
  cost_daily: CostDailyTable;
  precompute_runs: PrecomputeRunsTable;
  shadow_comparisons: ShadowComparisonsTable;
  model_versions: ModelVersionsTable;
  cache_audits: CacheAuditsTable;
  alerts: AlertsTable;
  erasures: ErasuresTable;
  erasure_files: ErasureFilesTable;
}
