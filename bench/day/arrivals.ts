// When each request of the simulated day arrives and who sends it: a diurnal curve over the day
// and Zipf activity over the users, both drawn from one seeded stream.

export const DAY_MS = 86_400_000;

/** The diurnal curve: busiest at 15:00 UTC, quietest at 03:00, peak:trough 3:1. */
export const PEAK_HOUR = 15;

/**
 * Relative request rate at `ms` into a day: 2 + cos(2π(h − 15)/24), so 3 at 15:00 and 1 at
 * 03:00 (the 3:1).
 */
export const diurnalRate = (ms: number) =>
  2 + Math.cos((2 * Math.PI * (ms / 3_600_000 - PEAK_HOUR)) / 24);

/** A moment of the day drawn from the diurnal curve (rejection sampling, max rate 3). */
export function diurnalMoment(random: () => number): number {
  for (;;) {
    const ms = random() * DAY_MS;
    if (random() * 3 < diurnalRate(ms)) return Math.floor(ms);
  }
}

/**
 * Draws user indexes 0…users−1 with Zipf weights 1/(i+1)^exponent: user 0 is the most active.
 * With the default exponent 0.8, at 10,000 users the busiest user sends ~3.7 % of the requests
 * (~11,000 a day, under the API's default per-user limits); at exponent 1 it would send ~10 %.
 */
export function zipfPicker(users: number, exponent: number, random: () => number): () => number {
  const cumulative = new Float64Array(users);
  let sum = 0;
  for (let i = 0; i < users; i++) {
    sum += 1 / (i + 1) ** exponent;
    cumulative[i] = sum;
  }
  return () => {
    const u = random() * sum;
    let lo = 0;
    let hi = users - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cumulative[mid] ?? sum) < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** One arrival: ms from the start of the simulated run (day 0 starts at 0) and the user index. */
export interface Arrival {
  at: number;
  user: number;
}

/**
 * `perUser` × `users` arrivals on each of the days `first`…`first + days − 1` (day −1 is the
 * previous day the run starts from), sorted by time.
 */
export function scheduleArrivals(options: {
  users: number;
  perUser: number;
  first: number;
  days: number;
  exponent: number;
  random: () => number;
}): Arrival[] {
  const pick = zipfPicker(options.users, options.exponent, options.random);
  const arrivals: Arrival[] = [];
  for (let d = options.first; d < options.first + options.days; d++) {
    for (let i = 0; i < options.users * options.perUser; i++) {
      arrivals.push({ at: d * DAY_MS + diurnalMoment(options.random), user: pick() });
    }
  }
  return arrivals.sort((a, b) => a.at - b.at || a.user - b.user);
}
