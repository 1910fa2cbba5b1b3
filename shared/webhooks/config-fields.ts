import { isIP } from 'node:net';
import { z } from 'zod';
import { parseDuration } from '../config/duration.ts';

// Zod fields for the WEBHOOK_* variables (see shared/config/env-spec.ts): parsed and checked at
// boot, so a typo'd range or schedule stops the process instead of the first delivery.

const list = (text: string) =>
  text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');

/** `a.b.c.d`, `a.b.c.d/n` or an IPv6 address/CIDR, with a prefix length the family allows. */
function isAddressOrCidr(entry: string): boolean {
  const [address = '', bits, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

// A host name as a URL carries it: letters, digits, dots and hyphens.
const HOST_NAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/** A comma-separated list of addresses or CIDRs (and host names, when `names` is true). */
export const addressList = (options: { names: boolean }) =>
  z
    .string()
    .transform(list)
    .superRefine((entries, ctx) => {
      for (const entry of entries) {
        if (isAddressOrCidr(entry) || (options.names && HOST_NAME.test(entry))) continue;
        ctx.addIssue({
          code: 'custom',
          message: `"${entry}" is not an address or CIDR${options.names ? ' or a host name' : ''}`,
        });
      }
    });

/**
 * The delays before each attempt, e.g. `0s,5s,5m,30m,2h,5h,10h,10h`: the first attempt is
 * immediate, so the list starts with `0s`, and its length is the number of attempts.
 */
export const retrySchedule = () =>
  z
    .string()
    .transform(list)
    .transform((entries, ctx) => {
      const delays = entries.map(parseDuration);
      const bad = entries.filter((_, i) => delays[i] === undefined);
      if (bad.length > 0) {
        ctx.addIssue({ code: 'custom', message: `${bad.join(', ')} is not a duration like 5m` });
        return z.NEVER;
      }
      if (delays.length === 0 || delays.length > 50 || delays[0] !== 0) {
        ctx.addIssue({
          code: 'custom',
          message: 'must list 1 to 50 delays, starting with 0s (the first attempt is immediate)',
        });
        return z.NEVER;
      }
      return delays as number[];
    });
