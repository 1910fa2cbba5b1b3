import { sql } from 'kysely';
import type { Db } from '../../shared/db/create-db.ts';
import { resolveRequest } from '../../shared/generation/resolve-request.ts';
import type { GeneratePayload } from '../../shared/generation/schema.ts';
import { type CachePurgeResult, purgeCacheKeys } from '../../shared/inference/cache-purge.ts';
import { listNamespaces, registryKeys } from '../../shared/inference/namespace-registry.ts';
import { type ChatMessage, exactKey } from '../../shared/inference/request-keys.ts';
import { templateKey } from '../../shared/inference/templates.ts';
import type { RedisClient } from '../../shared/redis/connections.ts';

const PAGE = 1_000;

/**
 * The cache keys a recorded request was cached under: its exact key (the exact, precomputed and
 * semantic layers) and, for a template request, its template key — rebuilt from the row's
 * `request` as the generate job resolved it. A request this version cannot resolve (a template
 * since removed) still gives the exact key of its prompt or messages.
 */
export function cacheKeysOfRequest(request: unknown): string[] {
  try {
    const resolved = resolveRequest(request as GeneratePayload);
    const keys = [exactKey(resolved.messages)];
    if (resolved.template) {
      keys.push(templateKey(resolved.template.template, resolved.template.params));
    }
    return keys;
  } catch {
    const r = (request ?? {}) as { prompt?: unknown; messages?: unknown };
    if (typeof r.prompt === 'string') return [exactKey([{ role: 'user', content: r.prompt }])];
    if (Array.isArray(r.messages)) return [exactKey(r.messages as ChatMessage[])];
    return [];
  }
}

/**
 * Every cache key the user's recorded requests were cached under, and the generations' ids (their
 * job ids), from their `generations` and `generations_late` rows, read a page at a time (a heavy
 * user's requests never sit in memory at once; only their keys and ids do).
 */
export async function userCacheKeys(
  db: Db,
  userId: string,
): Promise<{ keys: Set<string>; generationIds: string[] }> {
  const keys = new Set<string>();
  const generationIds: string[] = [];
  for (const table of ['generations', 'generations_late'] as const) {
    let after: { created_at: Date; id: string } | undefined;
    for (;;) {
      let query = db
        .selectFrom(table)
        .select(['id', 'created_at', 'request'])
        .where('user_id', '=', userId)
        .orderBy('created_at')
        .orderBy('id')
        .limit(PAGE);
      if (after) {
        const { created_at, id } = after;
        query = query.where(sql<boolean>`(created_at, id) > (${created_at}, ${id})`);
      }
      const rows = await query.execute();
      for (const row of rows) {
        generationIds.push(row.id);
        for (const key of cacheKeysOfRequest(row.request)) keys.add(key);
      }
      const last = rows.at(-1);
      if (!last || rows.length < PAGE) break;
      after = { created_at: last.created_at, id: last.id };
    }
  }
  return { keys, generationIds };
}

/** The per-user (`cache: 'user'`) namespaces registered for this user. */
export async function userNamespaces(redis: RedisClient, prefix: string, userId: string) {
  const listed = await listNamespaces(redis, prefix);
  return [...listed].filter(([, parts]) => parts.user === userId).map(([id]) => id);
}

export interface UserCachePurge {
  /** The keys' answers in every namespace. */
  keys: CachePurgeResult;
  /** The user's own namespaces, whole. */
  namespaces: CachePurgeResult;
  userNamespaces: number;
}

/**
 * Removes what the caches hold from the user's requests: every answer under one of `keys`, in
 * every layer and namespace, with its semantic entries (Redis and every worker's index); and
 * the user's per-user namespaces whole, with their registry entries (which name the user).
 */
export async function purgeUserCaches(
  deps: { redis: RedisClient; prefix: string },
  userId: string,
  keys: ReadonlySet<string>,
): Promise<UserCachePurge> {
  const own = await userNamespaces(deps.redis, deps.prefix, userId);
  const byKey = await purgeCacheKeys(deps, keys);
  const whole = await purgeCacheKeys(deps, [], { namespaces: own });
  if (own.length > 0) {
    const registry = registryKeys(deps.prefix);
    await deps.redis.hdel(registry.parts, ...own);
    await deps.redis.zrem(registry.seen, ...own);
  }
  return { keys: byKey, namespaces: whole, userNamespaces: own.length };
}
