// bench:day's settings, from its environment, checked with a clear message for each.

export interface DaySettings {
  users: number;
  seed: number;
  days: number;
  /** Simulated ms per real ms: 24 runs a day in an hour. */
  compression: number;
  /** Output tokens per second of one local call (each concurrent call at this speed). */
  localTokensPerS: number;
  /** Share of local answers that fail (half) or come back invalid (half). */
  localFailure: number;
}

function read(env: Record<string, string | undefined>, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number (got "${text}")`);
  return value;
}

/** The settings of DAY_* variables; the defaults are the full run. */
export function daySettings(env: Record<string, string | undefined>): DaySettings {
  const s = {
    users: read(env, 'DAY_USERS', 10_000),
    seed: read(env, 'DAY_SEED', 1),
    days: read(env, 'DAY_DAYS', 1),
    compression: read(env, 'DAY_COMPRESSION', 24),
    localTokensPerS: read(env, 'DAY_LOCAL_TOKENS_PER_S', 1_000),
    localFailure: read(env, 'DAY_LOCAL_FAILURE', 0.05),
  };
  const whole = (name: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be a whole number ≥ ${min}`);
  };
  whole('DAY_USERS', s.users, 1);
  whole('DAY_SEED', s.seed, 0);
  whole('DAY_DAYS', s.days, 1);
  if (s.days > 1) {
    // The schedules run on the compressed clock, but the timestamps, the rollup's and the
    // export's "today" are still real: two simulated days would land in one real day.
    throw new Error(
      'DAY_DAYS > 1 needs the timestamps, the rollup and the export on the compressed clock, which is not built yet: use 1',
    );
  }
  if (s.compression < 1) throw new Error('DAY_COMPRESSION must be ≥ 1 (24: a day in an hour)');
  if (s.localTokensPerS <= 0) throw new Error('DAY_LOCAL_TOKENS_PER_S must be > 0');
  if (s.localFailure < 0 || s.localFailure > 1) {
    throw new Error('DAY_LOCAL_FAILURE must be a share between 0 and 1 (0.05: 5 %)');
  }
  return s;
}
