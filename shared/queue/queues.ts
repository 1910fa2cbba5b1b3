import { type Job, type JobsOptions, Queue } from 'bullmq';
import type { z } from 'zod';
import { InvalidPayloadError } from '../errors/invalid-payload-error.ts';
import type { RedisClient } from '../redis/connections.ts';
import { bullJobOptions } from './default-options.ts';
import type { QueueContract } from './job-definition.ts';

/** Parses a payload against its job's schema; throws {@link InvalidPayloadError} naming each bad field. */
export function parsePayload<D extends QueueContract>(
  definition: D,
  payload: unknown,
): z.output<D['schema']> {
  const parsed = definition.schema.safeParse(payload);
  if (!parsed.success) throw InvalidPayloadError.fromZod(definition.queue, parsed.error);
  return parsed.data as z.output<D['schema']>;
}

/**
 * The producer side: one BullMQ `Queue` per job definition, created on first use, each with the
 * definition's default job options. Payloads are parsed before they reach Redis.
 */
export class Queues {
  readonly #connection: RedisClient;
  readonly #prefix: string;
  readonly #queues = new Map<string, Queue>();

  constructor(options: { connection: RedisClient; prefix: string }) {
    this.#connection = options.connection;
    this.#prefix = options.prefix;
  }

  get prefix(): string {
    return this.#prefix;
  }

  /** The BullMQ queue of a definition (or of a queue name). */
  get(definition: QueueContract): Queue {
    let queue = this.#queues.get(definition.queue);
    if (!queue) {
      queue = new Queue(definition.queue, {
        connection: this.#connection,
        prefix: this.#prefix,
        defaultJobOptions: bullJobOptions(definition.options),
      });
      // Errors surface on the calls that fail; this keeps a reconnect from being an unhandled event.
      queue.on('error', () => {});
      this.#queues.set(definition.queue, queue);
    }
    return queue;
  }

  /** Parses the payload, then adds the job. */
  async add<D extends QueueContract>(
    definition: D,
    payload: z.input<D['schema']>,
    options?: JobsOptions,
  ): Promise<Job> {
    const data = parsePayload(definition, payload);
    return this.get(definition).add(definition.queue, data, options);
  }

  /** Closes every queue this instance opened (not the shared connection). */
  async close(): Promise<void> {
    await Promise.all([...this.#queues.values()].map((q) => q.close()));
    this.#queues.clear();
  }
}
