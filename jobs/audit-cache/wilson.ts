/** z of a two-sided 95 % interval: the 97.5th percentile of the standard normal distribution. */
export const Z_95 = 1.959963984540054;

/**
 * The Wilson score interval of a proportion, `successes` of `trials` (95 % by default). Unlike
 * the textbook p ± z·√(p(1−p)/n) it stays within [0, 1] and is not zero-wide when nothing was
 * found: 0 false hits of 200 says "under 1.9 %", not "exactly 0" — what an audit of a few
 * hundred samples can honestly claim.
 *
 * @example
 * wilsonInterval(10, 200) // → { low: 0.0274, high: 0.0896 } (rounded)
 */
export function wilsonInterval(
  successes: number,
  trials: number,
  z = Z_95,
): { low: number; high: number } {
  if (!Number.isInteger(trials) || trials < 1) {
    throw new RangeError(`a Wilson interval needs at least one trial (got ${trials})`);
  }
  if (!Number.isInteger(successes) || successes < 0 || successes > trials) {
    throw new RangeError(`successes must be a whole number from 0 to ${trials} (got ${successes})`);
  }
  const p = successes / trials;
  const z2 = z * z;
  const denominator = 1 + z2 / trials;
  const centre = (p + z2 / (2 * trials)) / denominator;
  const half = (z / denominator) * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials));
  // Clamped: at 0 or n the bound is exactly 0 or 1, and rounding must not step past it.
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}
