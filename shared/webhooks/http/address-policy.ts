import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
// ipaddr.js classifies addresses against the IANA special-purpose registries (loopback, private,
// link-local, CGNAT, unique-local, multicast, NAT64, 6to4, Teredo, documentation …), so this file
// only decides policy and never parses address text itself. It is the parser request-filtering-agent
// and @atproto-labs/fetch-node build on; neither of those fits as is: request-filtering-agent checks
// a literal-IP URL only after the TCP handshake (the sentinel would see a connection) and
// @atproto-labs/fetch-node has no allow-list, extra ranges or own-interface check.
import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Cidr = [Address, number];

/** Where a blocked address was found: the URL's host name and the address it reached. */
export interface Refusal {
  hostname: string;
  address: string;
  /** An ipaddr.js range name (`loopback`, `private` …), `own-interface`, or a configured CIDR. */
  range: string;
}

/** What to let through besides the public internet, and what to refuse besides the defaults. */
export interface AddressPolicyOptions {
  /**
   * Addresses, CIDRs or host names that skip the filter (tests use `127.0.0.1`). A host name
   * matches the URL's host exactly; an address or CIDR matches what a name resolved to.
   * @defaultValue []
   */
  allowList?: readonly string[] | undefined;
  /**
   * Addresses or CIDRs to refuse on top of every non-public range (an internal network that
   * uses public addresses, a VPC's peered range).
   * @defaultValue []
   */
  extraBlockedRanges?: readonly string[] | undefined;
}

// The only IPv6 space IANA allocates for global unicast. Everything outside it is special or
// unassigned — including the deprecated IPv4-compatible `::a.b.c.d` (::/96), which ipaddr.js
// calls plain `unicast` and which older stacks route to the embedded IPv4 address.
const GLOBAL_UNICAST_V6: Cidr = ipaddr.parseCIDR('2000::/3');

/** `a.b.c.d` or `a.b.c.d/n` (or IPv6) as a CIDR; a bare address is a single-address range. */
function parseRange(entry: string): Cidr {
  if (entry.includes('/')) return normalizeCidr(ipaddr.parseCIDR(entry));
  const address = normalize(ipaddr.parse(entry));
  return [address, address.kind() === 'ipv4' ? 32 : 128];
}

/** An IPv4-mapped IPv6 CIDR (`::ffff:10.0.0.0/104`) as the IPv4 CIDR it stands for. */
function normalizeCidr([address, bits]: Cidr): Cidr {
  if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
    return [(address as ipaddr.IPv6).toIPv4Address(), bits - 96];
  }
  return [address, bits];
}

/** `::ffff:a.b.c.d` connects to `a.b.c.d`, so it is judged (and shown) as that address. */
function normalize(address: Address): Address {
  if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()) {
    return (address as ipaddr.IPv6).toIPv4Address();
  }
  return address;
}

function inRange(address: Address, [base, bits]: Cidr): boolean {
  return address.kind() === base.kind() && address.match(base, bits);
}

const cidrText = ([base, bits]: Cidr) => `${base.toString()}/${bits}`;

/** The addresses of this host's own interfaces (a service bound to 0.0.0.0 answers on each). */
function ownAddresses(): Address[] {
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .map((info) => normalize(ipaddr.parse(info.address.split('%')[0] ?? info.address)));
}

/** The range that makes `address` unreachable for webhooks, or `undefined` when it is public. */
function specialRange(address: Address): string | undefined {
  const range = address.range();
  if (range !== 'unicast') return range;
  if (address.kind() === 'ipv6' && !inRange(address, GLOBAL_UNICAST_V6)) return 'non-global IPv6';
  return undefined;
}

/**
 * Decides, for each address a webhook connection is about to use, whether it may be used. Built
 * once from configuration: a malformed entry throws at boot rather than at the first delivery.
 */
export class AddressPolicy {
  readonly #allowedHosts: ReadonlySet<string>;
  readonly #allowedRanges: readonly Cidr[];
  readonly #blockedRanges: readonly Cidr[];

  constructor(options: AddressPolicyOptions = {}) {
    const allowList = options.allowList ?? [];
    this.#allowedHosts = new Set(
      allowList.filter((entry) => !isRangeEntry(entry)).map(canonicalHost),
    );
    this.#allowedRanges = allowList.filter(isRangeEntry).map(parseRange);
    this.#blockedRanges = (options.extraBlockedRanges ?? []).map((entry) => {
      if (!isRangeEntry(entry)) throw new TypeError(`not an address or CIDR: "${entry}"`);
      return parseRange(entry);
    });
  }

  /** True when `hostname` (as in a URL) is on the allow-list by name: no address check at all. */
  allowsHost(hostname: string): boolean {
    return this.#allowedHosts.has(canonicalHost(hostname));
  }

  /** Why `address` (reached through `hostname`) must not be connected to, or `undefined`. */
  refusal(hostname: string, address: string): Refusal | undefined {
    if (this.allowsHost(hostname)) return undefined;
    let parsed: Address;
    try {
      parsed = normalize(ipaddr.parse(address.split('%')[0] ?? address));
    } catch {
      return { hostname, address, range: 'unparseable' };
    }
    const shown = parsed.toString();
    if (this.#allowedRanges.some((range) => inRange(parsed, range))) return undefined;
    const configured = this.#blockedRanges.find((range) => inRange(parsed, range));
    if (configured) return { hostname, address: shown, range: cidrText(configured) };
    const special = specialRange(parsed);
    if (special) return { hostname, address: shown, range: special };
    if (ownAddresses().some((own) => own.toString() === shown)) {
      return { hostname, address: shown, range: 'own-interface' };
    }
    return undefined;
  }
}

function isRangeEntry(entry: string): boolean {
  const [address = ''] = entry.split('/');
  return isIP(address) !== 0;
}

/** Lower-case, no brackets, no trailing dot: the forms a URL host can take for one name. */
function canonicalHost(hostname: string): string {
  return hostname
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');
}
