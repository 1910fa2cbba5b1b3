import { WebhookDeliveryError } from './webhook-delivery-error.ts';

/**
 * A webhook URL pointed (directly, or through what its host name resolved to at connect time)
 * at an address outside the public internet: loopback, a private or link-local range, cloud
 * metadata, this host's own interfaces, a configured blocked range. Permanent: no connection was
 * made, and retrying cannot change the answer in a way we should trust.
 */
export class BlockedDestinationError extends WebhookDeliveryError {
  /** The host name of the URL (or the literal address it held). */
  readonly hostname: string;
  /** The address that was refused, IPv4-mapped IPv6 shown as its IPv4 form. */
  readonly address: string;
  /** What the address is: `loopback`, `private`, `linkLocal`, `own-interface`, a CIDR … */
  readonly range: string;

  constructor(refusal: { url: string; hostname: string; address: string; range: string }) {
    const { url, hostname, address, range } = refusal;
    super(
      'blocked',
      url,
      `webhook destination ${hostname} is not allowed: ${address} is ${describeRange(range)}`,
    );
    this.name = 'BlockedDestinationError';
    this.hostname = hostname;
    this.address = address;
    this.range = range;
  }
}

function describeRange(range: string): string {
  if (range === 'own-interface') return "one of this host's own addresses";
  if (range.includes('/')) return `in the blocked range ${range}`;
  return `a ${range} address`;
}
