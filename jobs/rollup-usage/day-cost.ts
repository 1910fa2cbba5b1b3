import type { CostsConfig } from '../../shared/config/load-config.ts';
import type { DayUsage } from '../../shared/usage/day-usage.ts';

/** A month's price as a day's share: a year of 12 months over its 365 days. */
export const DAY_SHARE_OF_MONTH = 12 / 365;

/** What a day used, as the rollup counted it. */
export interface DayUse {
  activeUsers: number;
  /** Sum of `generations.cost_usd` (priced by `MODEL_PRICES` when generated). */
  tokenUsd: number;
  /** Output tokens the local model produced (sizes the model boxes). */
  localOutputTokens: number;
  /** Bytes of the cold manifests of the days up to this one. */
  storageBytes: number;
  /** Objects written to cold storage this day. */
  storageWrites: number;
  /** Objects read from cold storage this day (not counted yet: 0). */
  storageReads: number;
}

/** A day's cost by component, its total and CPAU (`null` without an active user). */
export interface DayCost {
  components: {
    tokens: number;
    fleet: number;
    database: number;
    model: number;
    storage: number;
    requests: number;
  };
  modelBoxes: number;
  total: number;
  cpau: number | null;
}

/** Kept to the 8 decimals `numeric(14, 8)` stores, so a recomputed day compares equal. */
const round8 = (n: number) => Math.round(n * 1e8) / 1e8;

/**
 * A day's cost from the price sheet: the day's share of each monthly price (the fleet box, a
 * managed database, as many model boxes as the local output needs at their rated tokens per
 * second, never fewer than `min`), object storage beyond the free GB for the day, its requests,
 * and the tokens; CPAU = total ÷ active users.
 */
export function dayCost(use: DayUse, costs: CostsConfig): DayCost {
  const capacity = costs.modelBox.outputTokensPerSecond * 86_400;
  const modelBoxes = Math.max(costs.modelBox.min, Math.ceil(use.localOutputTokens / capacity));
  const billableGb = Math.max(0, use.storageBytes / 1e9 - costs.storage.freeGb);
  const components = {
    tokens: round8(use.tokenUsd),
    fleet: round8(costs.fleetBoxUsdPerMonth * DAY_SHARE_OF_MONTH),
    database: round8(costs.databaseUsdPerMonth * DAY_SHARE_OF_MONTH),
    model: round8(modelBoxes * costs.modelBox.usdPerMonth * DAY_SHARE_OF_MONTH),
    storage: round8(billableGb * costs.storage.usdPerGbMonth * DAY_SHARE_OF_MONTH),
    requests: round8(
      (use.storageWrites / 1e6) * costs.storage.usdPerMillionWrites +
        (use.storageReads / 1e6) * costs.storage.usdPerMillionReads,
    ),
  };
  const total = round8(Object.values(components).reduce((a, b) => a + b, 0));
  return {
    components,
    modelBoxes,
    total,
    cpau: use.activeUsers > 0 ? round8(total / use.activeUsers) : null,
  };
}

/** A day's `cost_daily` row: what it used, what that cost under `costs`, and its usage totals. */
export function costDailyRow(
  day: string,
  use: DayUse,
  cost: DayCost,
  costs: CostsConfig,
  usage: DayUsage,
) {
  const c = cost.components;
  return {
    day,
    active_users: use.activeUsers,
    token_usd: c.tokens,
    fleet_usd: c.fleet,
    database_usd: c.database,
    model_usd: c.model,
    storage_usd: c.storage,
    requests_usd: c.requests,
    total_usd: cost.total,
    cpau_usd: cost.cpau,
    model_boxes: cost.modelBoxes,
    local_output_tokens: use.localOutputTokens,
    storage_bytes: use.storageBytes,
    storage_writes: use.storageWrites,
    costs: JSON.stringify(costs),
    usage: JSON.stringify(usage),
  };
}
