import { z } from 'zod';
import { json } from './fields.ts';

const usd = () => z.number().nonnegative();

/**
 * The price sheet (`COSTS`): what the fleet costs besides the tokens `MODEL_PRICES` prices.
 * Every line has its default (sources in the README's "Cost per active user"); an operator's
 * JSON overrides the lines it names and keeps the rest.
 */
export const costsSchema = z
  .object({
    /** The box running the API, the workers, Redis and Postgres. @defaultValue 20 */
    fleetBoxUsdPerMonth: usd().default(20),
    /** A managed database billed apart from the fleet box, if any. @defaultValue 0 */
    databaseUsdPerMonth: usd().default(0),
    modelBox: z
      .object({
        /** @defaultValue 26 */
        usdPerMonth: usd().default(26),
        /** Output tokens per second one box serves in aggregate. @defaultValue 20 */
        outputTokensPerSecond: z.number().positive().default(20),
        /** Boxes paid for however idle. @defaultValue 1 */
        min: z.number().int().nonnegative().default(1),
      })
      .strict()
      .prefault({}),
    storage: z
      .object({
        /** @defaultValue 0.015 */
        usdPerGbMonth: usd().default(0.015),
        /** @defaultValue 10 */
        freeGb: usd().default(10),
        /** Class A operations (PUT, LIST). @defaultValue 4.5 */
        usdPerMillionWrites: usd().default(4.5),
        /** Class B operations (GET, HEAD). @defaultValue 0.36 */
        usdPerMillionReads: usd().default(0.36),
      })
      .strict()
      .prefault({}),
    /**
     * What the plans hold, for the dashboard's headroom: the fleet box's share for Postgres and
     * Redis (a 2 vCPU box with 4 GB of memory and an 80 GB disk). Object storage's line is
     * `storage.freeGb`, the tokens' the model boxes' monthly output.
     */
    limits: z
      .object({
        /** Postgres on the fleet box's disk, beside the OS, images and the export's work. @defaultValue 40 */
        postgresGb: z.number().positive().default(40),
        /** Redis in the fleet box's memory, beside the processes. @defaultValue 1024 */
        redisMb: z.number().positive().default(1024),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type CostsConfig = z.infer<typeof costsSchema>;

/** `COSTS`: JSON text to a complete price sheet. */
export const costsField = () => json(costsSchema);

/** `CPAU_TARGET_USD`: the top of the CPAU band, in USD per active user per day. */
export const cpauTargetField = () =>
  z.coerce
    .number({ error: 'must be a number of US dollars, like 0.01' })
    .positive({ error: 'must be above 0 (US dollars per active user per day)' });
