import { z } from 'zod';

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
  })
  .strict();

export type CostsConfig = z.infer<typeof costsSchema>;

/** `COSTS`: JSON text to a complete price sheet. */
export const costsField = () =>
  z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not valid JSON' });
        return z.NEVER;
      }
    })
    .pipe(costsSchema);
