import { Ollama } from 'ollama';
import type { Logger } from '../log/logger.ts';
import { createModelServers, type ModelServers } from './model-servers.ts';

/** How often the local model's digest is read again: a re-pull shows within this long. */
export const DIGEST_REFRESH_MS = 5 * 60_000;
/** How long after a failed read (Ollama down) the next one is tried. */
const RETRY_MS = 30_000;
const READ_TIMEOUT_MS = 2_000;

/** The local model's content digest, as Ollama lists it; part of every cache namespace. */
export interface ModelDigest {
  /**
   * The digest last read (the first call waits for the first read, at most 2 s); `undefined`
   * while Ollama has not answered or does not list the model. A stale value is returned at once
   * and read again in the background.
   */
  get(): Promise<string | undefined>;
}

/**
 * Reads the local model's digest from Ollama's `GET /api/tags`, every {@link DIGEST_REFRESH_MS}.
 * A model retrained and pulled again under the same name gets a new digest, so the caches'
 * namespaces change and its old answers stop matching without anyone bumping
 * `LOCAL_MODEL_VERSION`.
 */
export function createModelDigest(options: {
  /** One Ollama server, or the pool (every server serves the same model: the boot check). */
  url?: string;
  servers?: ModelServers;
  model: string;
  log: Logger;
  now?: () => number;
  /**
   * Called when a read finds a digest other than the last one (the first read included);
   * not called while Ollama cannot be read. The model-versions ledger hangs here.
   */
  onChange?: (digest: string | undefined) => void;
}): ModelDigest {
  const now = options.now ?? Date.now;
  const servers =
    options.servers ?? createModelServers({ urls: [options.url ?? ''], cooldownMs: RETRY_MS });
  const list = () =>
    servers.run((url) =>
      new Ollama({
        host: url,
        fetch: (input, init) =>
          fetch(input, { ...init, signal: AbortSignal.timeout(READ_TIMEOUT_MS) }),
      }).list(),
    );
  const names = new Set([options.model, `${options.model}:latest`]);
  let digest: string | undefined;
  let nextReadAt = 0;
  let reading: Promise<void> | undefined;

  const read = async () => {
    try {
      const { models } = await list();
      const found = models.find((m) => names.has(m.name) || names.has(m.model))?.digest;
      const changed = found !== digest;
      if (changed) {
        options.log.info({ model: options.model, digest: found }, 'local model digest');
      }
      digest = found;
      if (changed) options.onChange?.(found);
      nextReadAt = now() + DIGEST_REFRESH_MS;
    } catch (error) {
      // Keep the last digest: an Ollama restart must not empty the caches' namespaces.
      options.log.debug({ err: error }, 'could not read the local model digest');
      nextReadAt = now() + RETRY_MS;
    } finally {
      reading = undefined;
    }
  };

  return {
    async get() {
      if (now() >= nextReadAt) {
        const first = nextReadAt === 0;
        reading ??= read();
        if (first) await reading;
      }
      return digest;
    },
  };
}
