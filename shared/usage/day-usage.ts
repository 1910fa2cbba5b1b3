/**
 * A day's usage summed over every user and API key (`cost_daily.usage`, migration 0016): the
 * small aggregate the dashboard draws 30 days of without reading `usage_daily`'s row per user.
 * The rollup writes it with the day's rows, from the same figures.
 */
export interface DayUsage {
  apiCalls: number;
  generations: number;
  tokensIn: number;
  tokensOut: number;
  dbWrites: number;
  telemetryPings: number;
  webhookDeliveries: number;
  /** Generations by layer, as `usage_daily.generations_by_layer`. */
  byLayer: Record<string, number>;
  /** API calls by route, as `usage_daily.api_calls_by_route`. */
  byRoute: Record<string, number>;
  /** Tokens and cost by model, as `usage_daily.tokens_by_model`. */
  byModel: Record<string, { in: number; out: number; usd: number }>;
}

/** A day with no usage; also what a `cost_daily` row rolled up before migration 0016 reads as. */
export const emptyDayUsage = (): DayUsage => ({
  apiCalls: 0,
  generations: 0,
  tokensIn: 0,
  tokensOut: 0,
  dbWrites: 0,
  telemetryPings: 0,
  webhookDeliveries: 0,
  byLayer: {},
  byRoute: {},
  byModel: {},
});

/** One `usage_daily` row's figures, as the rollup builds them: a day's shape, for one user. */
export type UsageRowFigures = DayUsage;

const addInto = (into: Record<string, number>, from: Record<string, number>) => {
  for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + n;
};

/** Sums a day's rows into its {@link DayUsage}; cost by model kept to 8 decimals as stored. */
export function sumDayUsage(rows: Iterable<UsageRowFigures>): DayUsage {
  const day = emptyDayUsage();
  for (const r of rows) {
    day.apiCalls += r.apiCalls;
    day.generations += r.generations;
    day.tokensIn += r.tokensIn;
    day.tokensOut += r.tokensOut;
    day.dbWrites += r.dbWrites;
    day.telemetryPings += r.telemetryPings;
    day.webhookDeliveries += r.webhookDeliveries;
    addInto(day.byLayer, r.byLayer);
    addInto(day.byRoute, r.byRoute);
    for (const [model, t] of Object.entries(r.byModel)) {
      const m = day.byModel[model] ?? { in: 0, out: 0, usd: 0 };
      m.in += t.in;
      m.out += t.out;
      m.usd = Math.round((m.usd + t.usd) * 1e8) / 1e8;
      day.byModel[model] = m;
    }
  }
  return day;
}
