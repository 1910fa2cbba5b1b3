import { createHash } from 'node:crypto';
import { canonicalJson } from '../json/canonical-json.ts';
import type { RedisClient } from '../redis/connections.ts';
import { type NamespaceParts, namespaceKey } from './request-keys.ts';

/**
 * What the registry keeps of a namespace: its key is a hash, so this is how a purge finds the
 * namespaces of a task type, a template or a cache scope.
 */
export interface RegisteredNamespace {
  taskType: string;
  /** `<id>@<version>`, for template requests. */
  template?: string;
  scope?: string;
  /** The end user, for per-user (`cache: 'user'`) namespaces. */
  user?: string;
  /** `<local model>@<version>`. */
  model: string;
  modelDigest?: string;
  embedModel: string;
  /** A short hash of the response schema, when there is one (the schema itself can be large). */
  responseFormat?: string;
}

const DAY_MS = 86_400_000;
// A process remembers what it registered for this long, then writes it again: the "last seen"
// time is what keeps a namespace listed while it still holds entries.
const REFRESH_MS = 3_600_000;
// Past this many remembered namespaces (per-user ones add up) a process starts over.
const MEMO_MAX = 10_000;
const PRUNE_BATCH = 100;

/** `<prefix>:cache-registry` (hash: namespace → JSON) and its `:seen` set (namespace → ms). */
export function registryKeys(prefix: string) {
  return { parts: `${prefix}:cache-registry`, seen: `${prefix}:cache-registry:seen` };
}

// Register, then forget a few namespaces nobody has noted for longer than any entry lives.
const REGISTER = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[4], 'LIMIT', 0, ${PRUNE_BATCH})
if #old > 0 then
  redis.call('HDEL', KEYS[1], unpack(old))
  redis.call('ZREM', KEYS[2], unpack(old))
end
return #old`;

export interface NamespaceRegistryOptions {
  redis: RedisClient;
  prefix: string;
  /**
   * The cache layers' TTLs. A namespace stays listed for twice the longest, plus a day, after a
   * process last noted it (a day at least): longer than anything in it lives.
   */
  ttlMs?: Readonly<Record<string, number>>;
}

export interface NamespaceRegistry {
  /**
   * The namespace key of `parts` ({@link namespaceKey}), listed in the registry. Writes to Redis
   * only the first time a process sees a namespace (and hourly after), so it costs nothing on
   * the hot path.
   */
  register(parts: NamespaceParts): Promise<string>;
}

/**
 * A small Redis registry of the cache namespaces in use: namespace → its parts as JSON, written
 * once per namespace per process (and refreshed hourly), forgotten once nothing in it can be
 * alive any more.
 */
export function createNamespaceRegistry(options: NamespaceRegistryOptions): NamespaceRegistry {
  const { redis } = options;
  const keys = registryKeys(options.prefix);
  const keepMs = 2 * Math.max(DAY_MS, ...Object.values(options.ttlMs ?? {})) + DAY_MS;
  const noted = new Map<string, number>();
  return {
    async register(parts) {
      const namespace = namespaceKey(parts);
      const now = Date.now();
      if ((noted.get(namespace) ?? -Infinity) > now - REFRESH_MS) return namespace;
      const record = JSON.stringify(describeNamespace(parts));
      await redis.eval(REGISTER, 2, keys.parts, keys.seen, namespace, record, now, now - keepMs);
      if (noted.size >= MEMO_MAX) noted.clear();
      noted.set(namespace, now);
      return namespace;
    },
  };
}

function describeNamespace(parts: NamespaceParts): RegisteredNamespace {
  const rf = parts.responseFormat;
  return {
    taskType: parts.taskType,
    ...(parts.template !== undefined && { template: parts.template }),
    ...(parts.scope !== undefined && { scope: parts.scope }),
    ...(parts.user !== undefined && { user: parts.user }),
    model: `${parts.localModel}@${parts.localModelVersion}`,
    ...(parts.localModelDigest && { modelDigest: parts.localModelDigest }),
    embedModel: parts.embedModel,
    ...(rf !== undefined &&
      rf !== null && {
        responseFormat: createHash('sha256').update(canonicalJson(rf)).digest('hex').slice(0, 12),
      }),
  };
}

/** The registered namespaces among `ids` (HMGET, in batches). */
export async function readNamespaces(
  redis: RedisClient,
  prefix: string,
  ids: readonly string[],
): Promise<Map<string, RegisteredNamespace>> {
  const found = new Map<string, RegisteredNamespace>();
  for (let i = 0; i < ids.length; i += 500) {
    const batch = ids.slice(i, i + 500);
    const records = await redis.hmget(registryKeys(prefix).parts, ...batch);
    records.forEach((record, j) => {
      const parsed = record === null ? undefined : parseRecord(record);
      if (parsed) found.set(batch[j]!, parsed);
    });
  }
  return found;
}

function parseRecord(text: string): RegisteredNamespace | undefined {
  try {
    const record = JSON.parse(text) as RegisteredNamespace | null;
    return typeof record?.taskType === 'string' ? record : undefined;
  } catch {
    return undefined; // written by something else; not a namespace this version can select
  }
}

/** Every registered namespace, read with HSCAN. Records that do not parse are skipped. */
export async function listNamespaces(
  redis: RedisClient,
  prefix: string,
): Promise<Map<string, RegisteredNamespace>> {
  const listed = new Map<string, RegisteredNamespace>();
  let cursor = '0';
  do {
    const [next, flat] = await redis.hscan(registryKeys(prefix).parts, cursor, 'COUNT', 1000);
    cursor = next;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const record = parseRecord(flat[i + 1]!);
      if (record) listed.set(flat[i]!, record);
    }
  } while (cursor !== '0');
  return listed;
}
