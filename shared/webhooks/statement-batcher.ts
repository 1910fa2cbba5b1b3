import { sqlState } from '../errors/sql-state.ts';

/** How a batcher turns many items into one statement. */
export interface StatementBatcherOptions<In, Out> {
  /** Runs one statement for `items`; returns one result per item, in order. */
  run: (items: In[]) => Promise<Out[]>;
  /**
   * Items with the same key never share a batch (an `UPDATE … FROM unnest(…)` may touch a row
   * only once); the later one waits for the next batch. @defaultValue no key: any items share
   */
  key?: ((item: In) => string) | undefined;
  /** @defaultValue 200 */
  maxBatch?: number | undefined;
  /** Statements in flight at once. @defaultValue 2 */
  maxInFlight?: number | undefined;
}

interface Waiting<In, Out> {
  item: In;
  resolve: (out: Out) => void;
  reject: (error: unknown) => void;
}

/**
 * Groups the small statements that concurrent jobs make (one ledger row each) into one
 * statement per batch, the way group commit does: a lone item goes at once; items that arrive
 * while `maxInFlight` statements are running wait and go together when one returns. So a quiet
 * process pays no added latency and a busy one makes a few statements instead of one per job
 * (each statement is a round trip, a parse and, for a write, a WAL flush).
 *
 * A batch Postgres refuses for its data is retried item by item, so one bad item fails only its
 * own caller; any other error (Postgres unreachable) fails the whole batch at once.
 */
export class StatementBatcher<In, Out> {
  readonly #run: (items: In[]) => Promise<Out[]>;
  readonly #key: ((item: In) => string) | undefined;
  readonly #maxBatch: number;
  readonly #maxInFlight: number;
  #waiting: Waiting<In, Out>[] = [];
  #inFlight = 0;
  #scheduled = false;

  constructor(options: StatementBatcherOptions<In, Out>) {
    this.#run = options.run;
    this.#key = options.key;
    this.#maxBatch = options.maxBatch ?? 200;
    this.#maxInFlight = options.maxInFlight ?? 2;
  }

  /** Resolves with this item's result once its batch has run. */
  submit(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.#maxInFlight) return;
    this.#scheduled = true;
    // Items submitted in the same turn of the event loop (jobs started together) share a batch.
    setImmediate(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    while (this.#inFlight < this.#maxInFlight && this.#waiting.length > 0) {
      const batch = this.#take();
      this.#inFlight++;
      this.#execute(batch).finally(() => {
        this.#inFlight--;
        if (this.#waiting.length > 0) this.#schedule();
      });
    }
  }

  /** The next batch: up to `maxBatch` waiting items, at most one per key, in arrival order. */
  #take(): Waiting<In, Out>[] {
    const key = this.#key;
    if (!key) return this.#waiting.splice(0, this.#maxBatch);
    const batch: Waiting<In, Out>[] = [];
    const rest: Waiting<In, Out>[] = [];
    const keys = new Set<string>();
    for (const waiting of this.#waiting) {
      const k = key(waiting.item);
      if (batch.length < this.#maxBatch && !keys.has(k)) {
        keys.add(k);
        batch.push(waiting);
      } else {
        rest.push(waiting);
      }
    }
    this.#waiting = rest;
    return batch;
  }

  async #execute(batch: Waiting<In, Out>[]): Promise<void> {
    try {
      const results = await this.#run(batch.map((w) => w.item));
      for (const [i, waiting] of batch.entries()) waiting.resolve(results[i] as Out);
    } catch (error) {
      if (batch.length === 1 || !refusedData(error)) {
        for (const waiting of batch) waiting.reject(error);
        return;
      }
      // One at a time: the items Postgres takes go through, the one it refuses fails alone.
      for (const waiting of batch) {
        await this.#run([waiting.item]).then(
          ([result]) => waiting.resolve(result as Out),
          (single: unknown) => waiting.reject(single),
        );
      }
    }
  }
}

/** Postgres refused the data itself (SQLSTATE class 22 data exception, 23 integrity violation). */
function refusedData(error: unknown): boolean {
  return /^2[23]/.test(sqlState(error) ?? '');
}
