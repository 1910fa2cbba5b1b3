import type { Config } from '../../shared/config/load-config.ts';
import { utcDay } from '../../shared/db/partitions.ts';
import { withColdQuery } from '../../shared/duckdb/cold-query.ts';
import {
  resolveRequest,
  UnresolvableRequestError,
} from '../../shared/generation/resolve-request.ts';
import { type GeneratePayload, generatePayloadSchema } from '../../shared/generation/schema.ts';
import type { GenerationPipeline, RequestKeys } from '../../shared/inference/pipeline.ts';
import { routeFor } from '../../shared/inference/router.ts';
import type { ObjectStorage } from '../../shared/storage/storage.ts';

/** One cache key worth answering before anyone asks. */
export interface Candidate {
  taskType: string;
  /** The cache scope the answer is shared within. */
  scope: string;
  /** `id` of the template, for template requests. */
  template: string | null;
  /** Times asked in the window. */
  asks: number;
  /** Distinct users who asked (for a key merged from several groups, a lower bound). */
  users: number;
  /** The route a miss would take, and what one costs there (USD, estimated from the asks). */
  route: 'local' | 'frontier';
  missCostUsd: number;
  /** Estimated tokens of one answer (in + out), from the model answers in the window. */
  tokens: number;
  /** asks × missCostUsd: the dollars a day of misses costs; ties are broken by asks. */
  weight: number;
  /** The latest ask of this key, as the `generate` job's payload. */
  payload: GeneratePayload;
  keys: RequestKeys;
  /** The key answers are stored under: the template key, else the exact one. */
  cacheKey: string;
}

/** The SQL ranks this many times TOP_N groups; the exact ranking is done on the merged keys. */
const OVERSAMPLE = 4;

export interface RankOptions {
  config: Config;
  storage: ObjectStorage;
  generation: Pick<GenerationPipeline, 'keysOf'>;
  /** End of the window. @defaultValue now */
  now?: Date;
}

export interface Ranking {
  from: Date;
  to: Date;
  /** Rows in the window, and how many came from cold Parquet. */
  rows: number;
  coldRows: number;
  candidates: Candidate[];
}

/**
 * Tomorrow's most asked cache keys: `generations` over `PRECOMPUTE_WINDOW`, hot rows and cold
 * days together in one DuckDB query (`openColdQuery`), grouped by what decides a cache key —
 * task type, cache scope, template, response schema and the normalised prompt — then merged in
 * JS by the pipeline's own keys (a template's case-insensitive params render differently but
 * share a template key). Only requests that shared a cache (`cache: shared`), single-turn
 * prompts and templates, and keys asked by at least `PRECOMPUTE_MIN_USERS` distinct users.
 */
export async function rankCandidates(options: RankOptions): Promise<Ranking> {
  const { config, storage } = options;
  const to = options.now ?? new Date();
  const from = new Date(to.getTime() - config.precompute.windowMs);
  return withColdQuery(
    {
      databaseUrl: config.database.url,
      storage,
      cacheDir: config.cold.cacheDir,
      duckdb: config.cold.duckdb,
      from: utcDay(from),
      to: utcDay(to),
      tables: ['generations'],
      // What the ranking reads: the answers stay in Postgres.
      hotColumns: {
        generations: [
          'id',
          'task_type',
          'user_id',
          'prompt_hash',
          'route',
          'created_at',
          'request',
          'cost_usd',
          'tokens_in',
          'tokens_out',
        ],
      },
    },
    async (session) => {
      const [source] = session.sources;
      // One thread: DuckDB's hash aggregates take memory per thread before they spill, and at
      // two a week of 10,000 users' asks (2.1 M, then 4.2 M at twice the users) ran out of the
      // default 64 MB where one thread ranks 4.2 M in ~22 s — and leaves the night's other
      // core to the live requests the precompute runs beside.
      await session.query('SET threads = 1');
      const { rows } = await session.query(groupsSql(from, to, config.precompute));
      const candidates = await mergeGroups(rows as unknown as Group[], options);
      return {
        from,
        to,
        rows: (source?.hotRows ?? 0) + (source?.coldRows ?? 0),
        coldRows: source?.coldRows ?? 0,
        candidates,
      };
    },
    () => ({ from, to, rows: 0, coldRows: 0, candidates: [] }),
  );
}

/** One row of {@link groupsSql}. */
interface Group {
  task_type: string;
  scope: string;
  template: string | null;
  asks: string | number;
  /** Distinct users who asked, and the lowest and highest of their ids' hashes. */
  users: string | number;
  first_user: string;
  last_user: string;
  model_cost: number | null;
  model_tokens: number | null;
  request: string;
}

/**
 * The ranking with fixed-size values only, so DuckDB can spill it under its memory limit (a group
 * holding strings or lists cannot: a week at 10,000 users, 2.1 M generations, ran out of 64 MB
 * that way): each ask's cache key and user hashed to 64 bits; per key its asks, model cost and
 * newest ask (as a UUID), and apart its distinct users; kept and cut to the top; then the newest
 * ask of each kept key read again for its request, the only text that leaves DuckDB.
 */
function groupsSql(from: Date, to: Date, limits: Config['precompute']): string {
  // Roles of the request's messages; a prompt or a template is one user turn.
  const roles = `CAST(json_extract(request, '$.messages[*].role') AS VARCHAR[])`;
  const template = (request = 'request') => `json_extract_string(${request}, '$.template')`;
  const scope = (request = 'request') => `coalesce(json_extract_string(${request}, '$.cacheScope'),
          json_extract_string(${request}, '$.apiKeyId'))`;
  // What decides a cache key, as one 64-bit hash (a collision in 2^64 merges two keys' counts).
  const key = `hash(task_type, ${scope()}, ${template()},
          json_extract_string(request, '$.responseFormat'), prompt_hash)`;
  const asks = `
      SELECT ${key} AS key, hash(user_id) AS user_hash, TRY_CAST(id AS UUID) AS id, created_at,
        ${template()} IS NOT NULL AS templated,
        CASE WHEN route IS NOT NULL THEN TRY_CAST(cost_usd AS DOUBLE) END AS model_cost,
        CASE WHEN route IS NOT NULL THEN tokens_in + tokens_out END AS model_tokens
      FROM generations
      WHERE ${inWindow(from, to)}
        AND coalesce(json_extract_string(request, '$.cache'), 'shared') = 'shared'
        AND (json_extract(request, '$.messages') IS NULL
          OR (len(list_filter(${roles}, r -> r <> 'system')) = 1
            AND list_filter(${roles}, r -> r <> 'system')[1] = 'user'))`;
  return `
    WITH asks AS (${asks}),
    keyed AS (
      SELECT key, count(*) AS asks, arg_max(id, created_at) AS newest, bool_or(templated) AS templated,
        avg(model_cost) AS model_cost, avg(model_tokens) AS model_tokens
      FROM asks
      GROUP BY key
    ),
    users AS (
      SELECT key, count(*) AS users, min(user_hash) AS first_user, max(user_hash) AS last_user
      FROM (SELECT DISTINCT key, user_hash FROM asks)
      GROUP BY key
    ),
    groups AS (
      SELECT k.*, u.users, u.first_user, u.last_user,
        k.asks * coalesce(k.model_cost, 0) AS weight
      FROM keyed k JOIN users u USING (key)
      WHERE k.templated OR u.users >= ${limits.minUsers}
      ORDER BY weight DESC, k.asks DESC
      LIMIT ${limits.topN * OVERSAMPLE}
    )
    SELECT r.task_type, ${scope('r.request')} AS scope, ${template('r.request')} AS template,
      g.asks, g.users,
      CAST(g.first_user AS VARCHAR) AS first_user, CAST(g.last_user AS VARCHAR) AS last_user,
      g.model_cost, g.model_tokens, CAST(r.request AS VARCHAR) AS request
    FROM groups g JOIN generations r ON TRY_CAST(r.id AS UUID) = g.newest
    WHERE ${inWindow(from, to, 'r.')}
    ORDER BY g.weight DESC, g.asks DESC`;
}

const inWindow = (from: Date, to: Date, alias = '') =>
  `${alias}created_at >= '${from.toISOString()}'::TIMESTAMPTZ
        AND ${alias}created_at < '${to.toISOString()}'::TIMESTAMPTZ`;

/**
 * Groups merged by the pipeline's cache keys (a template's params spelt in two cases render two
 * prompts but share a template key), filtered by distinct users, ranked, cut to TOP_N. A merged
 * key's users are counted as the most of any of its groups or the distinct users their lowest
 * and highest hashes name, whichever is more: exact for `PRECOMPUTE_MIN_USERS` 2 (groups of one
 * user each are their own lowest), a lower bound past it — never more users than asked, so one
 * user's prompt is never taken for a shared one.
 */
async function mergeGroups(groups: Group[], options: RankOptions): Promise<Candidate[]> {
  const { config } = options;
  const merged = new Map<string, Candidate & { named: Set<string>; costs: number[] }>();
  for (const group of groups) {
    const payload = parseRequest(group.request);
    if (!payload) continue;
    let request: ReturnType<typeof resolveRequest>;
    try {
      request = resolveRequest(payload);
    } catch (error) {
      if (error instanceof UnresolvableRequestError) continue; // a template since removed
      throw error;
    }
    const keys = await options.generation.keysOf(request);
    const cacheKey = keys.template ?? keys.exact;
    const id = `${keys.namespace}:${cacheKey}`;
    const asks = Number(group.asks);
    const users = Number(group.users);
    const seen = merged.get(id);
    if (seen) {
      seen.asks += asks;
      seen.users = Math.max(seen.users, users);
      seen.named.add(group.first_user).add(group.last_user);
      if (group.model_cost !== null) seen.costs.push(group.model_cost);
      continue;
    }
    const route = routeFor(request.taskType, request.messages, config.inference.route);
    const tokens = group.model_tokens ?? estimateTokens(request.messages);
    merged.set(id, {
      taskType: group.task_type,
      scope: group.scope,
      template: group.template,
      asks,
      users,
      route: route === 'frontier' && config.inference.frontier ? 'frontier' : 'local',
      missCostUsd: 0,
      tokens: Math.round(tokens),
      weight: 0,
      payload,
      keys,
      cacheKey,
      named: new Set([group.first_user, group.last_user]),
      costs: group.model_cost === null ? [] : [group.model_cost],
    });
  }
  const ranked: Candidate[] = [];
  for (const { named, costs, ...candidate } of merged.values()) {
    candidate.users = Math.max(candidate.users, named.size);
    if (candidate.users < config.precompute.minUsers) continue;
    candidate.missCostUsd = missCost(candidate, costs, config);
    candidate.weight = candidate.asks * candidate.missCostUsd;
    ranked.push(candidate);
  }
  ranked.sort((a, b) => b.weight - a.weight || b.asks - a.asks);
  return ranked.slice(0, config.precompute.topN);
}

/**
 * What one miss costs on its route: the mean recorded cost of the key's model answers when it
 * has any priced ones, else its tokens at the route's price (`MODEL_PRICES`; the local model
 * costs 0 unless priced there).
 */
function missCost(candidate: Candidate, costs: number[], config: Config): number {
  const recorded = costs.filter((c) => c > 0);
  if (recorded.length > 0) return recorded.reduce((a, b) => a + b, 0) / recorded.length;
  const model =
    candidate.route === 'frontier' ? config.inference.frontier?.model : config.inference.localModel;
  const price = model ? config.inference.prices[model] : undefined;
  if (!price) return 0;
  return (candidate.tokens * (price.input + price.output)) / 2 / 1_000_000;
}

/** About 4 characters a token, and an answer about as long as its prompt. */
function estimateTokens(messages: readonly { content: string }[]): number {
  const chars = messages.reduce((n, m) => n + m.content.length, 0);
  return Math.ceil(chars / 4) * 2;
}

/** A recorded request as today's payload schema reads it; rows it cannot read are skipped. */
function parseRequest(text: string): GeneratePayload | undefined {
  try {
    const parsed = generatePayloadSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
