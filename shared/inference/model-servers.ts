import type { Logger } from '../log/logger.ts';
import { ModelError } from './model-error.ts';

/** Why a server is skipped for a while: it failed, not the request. */
export type ServerFault = 'unreachable' | 'server-error' | 'timeout';

/** One server's figures, for `/metrics` and tests. */
export interface ModelServerStats {
  url: string;
  /** The URL without credentials, path or query: what metrics and logs name. */
  label: string;
  inFlight: number;
  requests: number;
  failures: Record<ServerFault, number>;
  cooldowns: number;
  /** False while cooling down or until a probe answers. */
  up: boolean;
}

export interface ModelServers {
  readonly urls: readonly string[];
  /**
   * Runs `task` on the server with the fewest requests in flight (ties: round robin). A server
   * that fails it (connection refused or dropped, HTTP 5xx, timeout) cools down; a refused
   * connection or a 5xx is tried once on each other server that is up (a timeout is not: the
   * request's time is spent). When no server is up, each is probed at once (a request waits at
   * most the probe's timeout for that); when none answers,
   * the call fails with the last server's error, as the one server's failure did, so the
   * caller's fallback applies.
   */
  run<T>(task: (url: string) => Promise<T>): Promise<T>;
  stats(): ModelServerStats[];
}

export interface ModelServersOptions {
  urls: readonly string[];
  /** How long a failed server is skipped before a probe may bring it back. */
  cooldownMs: number;
  log?: Logger | undefined;
  /** @defaultValue 2_000 */
  probeTimeoutMs?: number;
  now?: () => number;
}

interface Server extends ModelServerStats {
  /** Epoch ms before which a cooling server is not probed (unless every server is down). */
  coolUntil: number;
  probing: Promise<void> | undefined;
  lastError: ModelError | undefined;
}

/** What metrics and logs call a server: its origin, without credentials. */
export function serverLabel(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/**
 * Whether an error is the server's fault (and which): a connection that could not be made or
 * kept, an HTTP 5xx, our own timeout. A 4xx, an unusable answer, or the job's own abort is
 * the request's, and leaves the server in service.
 */
export function serverFault(error: unknown): ServerFault | undefined {
  if (error instanceof ModelError) {
    if (error.reason === 'timeout') return 'timeout';
    if (error.unreachable) return 'unreachable';
    if (error.reason === 'invalid') return undefined;
    return statusFault(error.cause);
  }
  const e = error as Error | undefined;
  if (e?.name === 'TimeoutError') return 'timeout';
  if (e?.name === 'TypeError' && e.message === 'fetch failed') return 'unreachable';
  const own = statusFault(error);
  // A wrapper of our own (a named error carrying the client's) is judged by what it carries.
  if (!own && e?.cause instanceof Error && !(e.cause instanceof ModelError)) {
    return serverFault(e.cause);
  }
  return own;
}

function statusFault(error: unknown): ServerFault | undefined {
  const status = (error as { status_code?: unknown } | undefined)?.status_code;
  return typeof status === 'number' && status >= 500 ? 'server-error' : undefined;
}

function asModelError(error: unknown, url: string): ModelError {
  if (error instanceof ModelError) return error;
  const e = error as Error | undefined;
  const cause = (e?.cause as Error | undefined)?.message;
  const fault = serverFault(error);
  const message =
    fault === 'unreachable'
      ? `local model at ${url} is unreachable (${cause ?? e?.message}); check OLLAMA_URL`
      : `local model at ${url} failed: ${e?.message ?? error}`;
  return new ModelError('local', fault === 'timeout' ? 'timeout' : 'error', message, {
    cause: error,
    unreachable: fault === 'unreachable',
  });
}

/** The pool of Ollama servers one process asks; see {@link ModelServers.run}. */
export function createModelServers(options: ModelServersOptions): ModelServers {
  if (options.urls.length === 0) throw new RangeError('at least one model server URL is needed');
  const now = options.now ?? Date.now;
  const probeTimeoutMs = options.probeTimeoutMs ?? 2_000;
  const servers: Server[] = options.urls.map((url) => ({
    url,
    label: serverLabel(url),
    inFlight: 0,
    requests: 0,
    failures: { unreachable: 0, 'server-error': 0, timeout: 0 },
    cooldowns: 0,
    up: true,
    coolUntil: 0,
    probing: undefined,
    lastError: undefined,
  }));
  let turn = 0;

  const coolDown = (server: Server, error: ModelError) => {
    server.lastError = error;
    if (server.up) {
      server.cooldowns++;
      options.log?.warn(
        { server: server.label, cooldownMs: options.cooldownMs, err: error.message },
        'model server failed; skipping it for the cooldown',
      );
    }
    server.up = false;
    server.coolUntil = now() + options.cooldownMs;
  };

  const probe = (server: Server): Promise<void> => {
    server.probing ??= (async () => {
      try {
        const response = await fetch(`${server.url.replace(/\/+$/, '')}/api/tags`, {
          signal: AbortSignal.timeout(probeTimeoutMs),
        });
        await response.body?.cancel();
        if (response.status >= 500) {
          throw Object.assign(new Error(`probe answered HTTP ${response.status}`), {
            status_code: response.status,
          });
        }
        server.up = true;
        options.log?.info({ server: server.label }, 'model server answered its probe; back in use');
      } catch (error) {
        coolDown(server, asModelError(error, server.url));
      } finally {
        server.probing = undefined;
      }
    })();
    return server.probing;
  };

  /** The least loaded of `candidates`; equal loads take turns in listing order. */
  const leastLoaded = (candidates: Server[]): Server => {
    let best: Server | undefined;
    for (let i = 0; i < servers.length; i++) {
      const server = servers[(turn + i) % servers.length]!;
      if (!candidates.includes(server)) continue;
      if (!best || server.inFlight < best.inFlight) best = server;
    }
    turn = (servers.indexOf(best!) + 1) % servers.length;
    return best!;
  };

  const pick = async (tried: Set<Server>): Promise<Server | undefined> => {
    const at = now();
    // A cooled-down server takes traffic only after its probe answers; the request goes on.
    for (const server of servers) {
      if (!server.up && !server.probing && at >= server.coolUntil) void probe(server);
    }
    const up = servers.filter((s) => s.up && !tried.has(s));
    if (up.length > 0) return leastLoaded(up);
    if (tried.size > 0) return undefined;
    // Every server is down: probe each now (sharing a probe under way) rather than fail a
    // request a server could answer. A probe is cheap, and bounded by its timeout.
    await Promise.all(servers.map((s) => s.probing ?? probe(s)));
    const back = servers.filter((s) => s.up);
    return back.length > 0 ? leastLoaded(back) : undefined;
  };

  /** Every server is down: the error of the one that failed last, as the one server's was. */
  const allDownError = (): ModelError => {
    const errors = servers.map((s) => s.lastError).filter((e) => e !== undefined);
    const last = errors.at(-1);
    if (servers.length === 1 && last) return last;
    const unreachable = errors.length === servers.length && errors.every((e) => e.unreachable);
    return new ModelError(
      'local',
      'error',
      `every model server in OLLAMA_URL is cooling down after failing; the last: ${last?.message ?? 'unknown'}`,
      { cause: last, unreachable },
    );
  };

  return {
    urls: options.urls,

    async run(task) {
      const tried = new Set<Server>();
      let failed: unknown;
      for (;;) {
        const server = await pick(tried);
        if (!server) throw tried.size > 0 ? failed : allDownError();
        tried.add(server);
        server.inFlight++;
        server.requests++;
        try {
          return await task(server.url);
        } catch (error) {
          const fault = serverFault(error);
          if (!fault) throw error;
          server.failures[fault]++;
          coolDown(server, asModelError(error, server.url));
          failed = error;
          if (fault === 'timeout') throw error;
        } finally {
          server.inFlight--;
        }
      }
    },

    stats: () =>
      servers.map(({ url, label, inFlight, requests, failures, cooldowns, up }) => ({
        url,
        label,
        inFlight,
        requests,
        failures: { ...failures },
        cooldowns,
        up,
      })),
  };
}

const pools = new WeakMap<object, ModelServers>();

/**
 * The process's one pool for a config (its in-flight counts and cooldowns shared by every
 * caller: the pipeline, the digest reads, the nightly jobs).
 */
export function modelServersFor(
  config: { ollamaUrls: readonly string[]; ollamaCooldownMs: number },
  log?: Logger,
): ModelServers {
  let pool = pools.get(config);
  if (!pool) {
    pool = createModelServers({
      urls: config.ollamaUrls,
      cooldownMs: config.ollamaCooldownMs,
      log,
    });
    pools.set(config, pool);
  }
  return pool;
}
