/**
 * `Retry-After` (RFC 9110 §10.2.3) as milliseconds from `now`: delta-seconds (`120`) or an HTTP
 * date (`Wed, 21 Oct 2015 07:28:00 GMT`, clamped to 0 when already past). `undefined` when absent
 * or unreadable, so a garbled header means "use the normal schedule", never "retry now".
 */
export function parseRetryAfter(
  value: string | undefined,
  now: number = Date.now(),
): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1_000;
  // Only something shaped like a date: `Date.parse` alone would read `-1` or `1.5` as years.
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
