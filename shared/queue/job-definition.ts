import type { Job, JobsOptions } from 'bullmq';
import type { Registry } from 'prom-client';
import type { z } from 'zod';
import type { Config } from '../config/load-config.ts';
import type { Db } from '../db/create-db.ts';
import type { GenerationPipeline } from '../inference/pipeline.ts';
import type { Logger } from '../log/logger.ts';
import type { RedisClient } from '../redis/connections.ts';
import type { SecretKeyring } from '../secrets/secret-keyring.ts';
import type { ObjectStorage } from '../storage/storage.ts';
import type { WebhookHttpClient } from '../webhooks/http/safe-fetch.ts';

/** When a job runs by itself. Upserted as a BullMQ job scheduler: once per fleet, never per process. */
export type JobSchedule<Input> = (
  | {
      /** Cron pattern (with seconds optional), e.g. `30 0 * * *`. */
      cron: string;
      /** Time zone of the pattern. @defaultValue the `SCHEDULE_TZ` setting */
      tz?: string;
    }
  | {
      /** Fixed interval in milliseconds. */
      every: number;
    }
) & {
  /** Payload of every scheduled run. @defaultValue `{}` */
  payload?: Input;
};

/** Per-queue defaults; every field has a safe default in `defaultJobOptions`. */
export interface JobOptions {
  /** Attempts before a job fails for good. @defaultValue 5 */
  attempts?: number;
  /** First retry delay; doubles per attempt, with jitter. @defaultValue 1000 */
  backoffMs?: number;
  /** The processor's signal aborts and the attempt fails after this long. @defaultValue 60_000 */
  timeoutMs?: number;
  /** Jobs this queue runs at once in one worker process. @defaultValue 5 */
  concurrency?: number;
  /** Completed jobs kept, by age (seconds) and count. @defaultValue 1 day, 1,000 */
  keepCompleted?: { age: number; count: number };
  /** Failed jobs kept, by age (seconds) and count. @defaultValue 7 days, 5,000 */
  keepFailed?: { age: number; count: number };
  /** Also enqueue one run when a worker starts (deduplicated across the fleet). @defaultValue false */
  runAtStart?: boolean;
}

/** What every processor can use. Clients are created once per process and passed in. */
export interface JobDeps {
  config: Config;
  db: Db;
  redis: RedisClient;
  storage: ObjectStorage;
  log: Logger;
  /** The process's Prometheus registry (served on `/metrics`); jobs register their own metrics. */
  metrics: Registry;
  /** `SECRETS_KEY` and `SECRETS_KEY_PREVIOUS`: open (and seal) secrets stored encrypted. */
  secrets: SecretKeyring;
  /** The process's SSRF-safe webhook client (one keep-alive pool), created at first use. */
  webhookClient: WebhookHttpClient;
  /** The process's generation pipeline (caches, local model, paid fallback), opened at first use. */
  generation: GenerationPipeline;
  /** Every queue of the catalog the process was started with (the alerts watch each one). */
  queueNames: readonly string[];
  /** Enqueues another job by its definition; the payload is parsed first. */
  enqueue: <D extends QueueContract>(
    definition: D,
    payload: z.input<D['schema']>,
    options?: JobsOptions,
  ) => Promise<Job>;
}

/** What a processor receives besides its parsed payload. */
export interface JobContext {
  job: Job;
  /** Aborts on timeout, on cancellation from the board, and on worker shutdown. */
  signal: AbortSignal;
  /** A child logger carrying `queue` and `jobId`. */
  log: Logger;
  deps: JobDeps;
  /**
   * True when `error`, thrown from this run, will be waited out (a store or model outage): the
   * job runs again later without spending an attempt, so this run is not its last.
   */
  waitsOut: (error: unknown) => boolean;
}

/**
 * The producer side of a job: what it takes to enqueue one (queue, payload schema, defaults).
 * The API and the CLI need only this, so a queue can be fed before its processor exists.
 */
export interface QueueContract<Name extends string = string, Schema extends z.ZodType = z.ZodType> {
  queue: Name;
  description: string;
  schema: Schema;
  options?: JobOptions;
}

/**
 * One job, one contract: its queue, payload schema, defaults, optional schedule and processor.
 * `process` is required, so a job without a processor does not compile.
 */
export interface JobDefinition<
  Name extends string = string,
  Schema extends z.ZodType = z.ZodType,
  Result = unknown,
> extends QueueContract<Name, Schema> {
  /** A fixed schedule, or one computed from the config (e.g. a configurable interval). */
  schedule?: JobSchedule<z.input<Schema>> | ((config: Config) => JobSchedule<z.input<Schema>>);
  /**
   * Errors besides a store outage that this job waits out instead of spending its attempts (the
   * generate job: no model server could be reached), with a reason shown in the job's status and
   * how long it may wait in all, from the outage's first wait. A store outage is always waited
   * out (about an hour).
   */
  waitsOut?: (error: unknown, config: Config) => { reason: string; forMs: number } | undefined;
  process: (payload: z.output<Schema>, context: JobContext) => Promise<Result>;
}

/** Declares a queue's producer contract; `defineJob({ ...contract, process })` completes it. */
export function defineQueue<Name extends string, Schema extends z.ZodType>(
  contract: QueueContract<Name, Schema>,
): QueueContract<Name, Schema> {
  return contract;
}

// biome-ignore lint/suspicious/noExplicitAny: a catalog holds definitions of every payload type.
export type AnyJobDefinition = JobDefinition<string, z.ZodType, any>;

/** Defines a job with its payload type inferred from the schema. */
export function defineJob<Name extends string, Schema extends z.ZodType, Result>(
  definition: JobDefinition<Name, Schema, Result>,
): JobDefinition<Name, Schema, Result> {
  return definition;
}

/** A catalog maps each queue name to the job whose `queue` is that name. */
export type JobCatalog<T> = {
  [K in keyof T]: K extends string ? JobDefinition<K, z.ZodType, unknown> : never;
};

/**
 * Declares the catalog of jobs. A key that differs from its job's `queue`, or an entry that is
 * not a full definition, is a type error.
 */
export function defineCatalog<T extends JobCatalog<T>>(catalog: T): T {
  return catalog;
}

/** A definition's schedule for this configuration, if it has one. */
export function resolveSchedule(
  definition: AnyJobDefinition,
  config: Config,
): JobSchedule<unknown> | undefined {
  const { schedule } = definition;
  return typeof schedule === 'function' ? schedule(config) : schedule;
}
