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
  /** Distinct users who asked (counted up to {@link USERS_COUNTED}). */
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

/** Distinct users are counted up to this many per key (enough to tell 2 from 1, and to show). */
export const USERS_COUNTED = 100;
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
  users: string[];
  model_cost: number | null;
  model_tokens: number | null;
  request: string;
}

function groupsSql(from: Date, to: Date, limits: Config['precompute']): string {
  const cap = Math.max(USERS_COUNTED, limits.minUsers);
  // Roles of the request's messages; a prompt or a template is one user turn.
  const roles = `CAST(json_extract(request, '$.messages[*].role') AS VARCHAR[])`;
  const weight = `count(*) * coalesce(avg(cost) FILTER (WHERE route IS NOT NULL), 0)`;
  // Two steps, so that memory holds a request's text only for the groups kept: the groups
  // first (each remembers its newest generation's id), then those ids' requests. Keeping the
  // newest request in every group's state ran DuckDB out of its memory limit on a day of
  // 30,000 generations.
  return `
    WITH asks AS (
      SELECT id, task_type, user_id, prompt_hash, route, created_at,
        TRY_CAST(cost_usd AS DOUBLE) AS cost, tokens_in + tokens_out AS tokens,
        coalesce(json_extract_string(request, '$.cacheScope'),
          json_extract_string(request, '$.apiKeyId')) AS scope,
        json_extract_string(request, '$.template') AS template,
        md5(coalesce(json_extract_string(request, '$.responseFormat'), '')) AS schema_hash
      FROM generations
      WHERE ${inWindow(from, to)}
        AND coalesce(json_extract_string(request, '$.cache'), 'shared') = 'shared'
        AND (json_extract(request, '$.messages') IS NULL
          OR (len(list_filter(${roles}, r -> r <> 'system')) = 1
            AND list_filter(${roles}, r -> r <> 'system')[1] = 'user'))
    ),
    groups AS (
      SELECT task_type, scope, template,
        count(*) AS asks,
        list(DISTINCT user_id)[1:${cap}] AS users,
        avg(cost) FILTER (WHERE route IS NOT NULL) AS model_cost,
        avg(tokens) FILTER (WHERE route IS NOT NULL) AS model_tokens,
        ${weight} AS weight,
        arg_max(id, created_at) AS newest
      FROM asks
      GROUP BY task_type, scope, template, schema_hash, prompt_hash
      HAVING template IS NOT NULL OR count(DISTINCT user_id) >= ${limits.minUsers}
      ORDER BY weight DESC, asks DESC
      LIMIT ${limits.topN * OVERSAMPLE}
    )
    SELECT g.task_type, g.scope, g.template, g.asks, g.users, g.model_cost, g.model_tokens,
      CAST(r.request AS VARCHAR) AS request
    FROM groups g JOIN generations r ON r.id = g.newest
    WHERE ${inWindow(from, to, 'r.')}
    ORDER BY g.weight DESC, g.asks DESC`;
}

const inWindow = (from: Date, to: Date, alias = '') =>
  `${alias}created_at >= '${from.toISOString()}'::TIMESTAMPTZ
        AND ${alias}created_at < '${to.toISOString()}'::TIMESTAMPTZ`;

/** Groups merged by the pipeline's cache keys, filtered by distinct users, ranked, cut to TOP_N. */
async function mergeGroups(groups: Group[], options: RankOptions): Promise<Candidate[]> {
  const { config } = options;
  const merged = new Map<string, Candidate & { userSet: Set<string>; costs: number[] }>();
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
    const seen = merged.get(id);
    if (seen) {
      seen.asks += asks;
      for (const user of group.users) seen.userSet.add(user);
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
      users: 0,
      route: route === 'frontier' && config.inference.frontier ? 'frontier' : 'local',
      missCostUsd: 0,
      tokens: Math.round(tokens),
      weight: 0,
      payload,
      keys,
      cacheKey,
      userSet: new Set(group.users),
      costs: group.model_cost === null ? [] : [group.model_cost],
    });
  }
  const ranked: Candidate[] = [];
  for (const { userSet, costs, ...candidate } of merged.values()) {
    candidate.users = Math.min(userSet.size, USERS_COUNTED);
    if (userSet.size < config.precompute.minUsers) continue;
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
