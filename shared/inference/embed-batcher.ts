export interface EmbedBatcherOptions<V> {
  /** Embeds many inputs in one request; returns one vector per input, in order. */
  embed: (inputs: string[]) => Promise<V[]>;
  /** How long the first call of a batch waits for others. @defaultValue 5 */
  windowMs?: number;
  /** A batch this large goes at once, without waiting out the window. @defaultValue 64 */
  maxBatch?: number;
}

export interface EmbedBatcher<V> {
  /** The embedding of `text`, computed in a batch with the calls around it. */
  embed(text: string): Promise<V>;
}

interface Waiter<V> {
  resolve: (vector: V) => void;
  reject: (error: unknown) => void;
}

/**
 * Turns concurrent single embeddings into one batched request (Ollama's `/api/embed` takes an
 * array): calls within `windowMs` of a batch's first call, up to `maxBatch` distinct texts, share
 * one `embed` call; the same text twice in a batch is embedded once. When the request fails,
 * every caller of that batch gets its error.
 *
 * @example
 * const batcher = createEmbedBatcher({
 *   embed: async (input) => (await ollama.embed({ model: 'nomic-embed-text', input })).embeddings,
 * });
 * const vector = await batcher.embed('Summarize this article about red shoes');
 */
export function createEmbedBatcher<V = number[]>(options: EmbedBatcherOptions<V>): EmbedBatcher<V> {
  const windowMs = options.windowMs ?? 5;
  const maxBatch = options.maxBatch ?? 64;
  let pending = new Map<string, Waiter<V>[]>();
  let timer: NodeJS.Timeout | undefined;

  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    const batch = pending;
    pending = new Map();
    const texts = [...batch.keys()];
    const fail = (error: unknown) => {
      for (const waiters of batch.values()) for (const w of waiters) w.reject(error);
    };
    Promise.resolve()
      .then(() => options.embed(texts))
      .then((vectors) => {
        if (!Array.isArray(vectors) || vectors.length !== texts.length) {
          throw new Error(
            `embed returned ${Array.isArray(vectors) ? vectors.length : 'no'} vectors for ${texts.length} inputs`,
          );
        }
        texts.forEach((text, i) => {
          for (const w of batch.get(text) ?? []) w.resolve(vectors[i]!);
        });
      })
      .catch(fail);
  };

  return {
    embed(text) {
      return new Promise<V>((resolve, reject) => {
        const waiters = pending.get(text);
        if (waiters) waiters.push({ resolve, reject });
        else pending.set(text, [{ resolve, reject }]);
        if (pending.size >= maxBatch) flush();
        else timer ??= setTimeout(flush, windowMs);
      });
    },
  };
}
