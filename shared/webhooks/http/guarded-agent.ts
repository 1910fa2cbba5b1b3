import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { Duplex } from 'node:stream';
import { BlockedDestinationError } from '../../errors/blocked-destination-error.ts';
import type { AddressPolicy } from './address-policy.ts';

/** One address a host name resolved to. */
export interface ResolvedAddress {
  address: string;
  family: number;
}

/**
 * Resolves a host name to every address it has. Injectable so tests can play a DNS server that
 * answers with a private address, or one that changes its answer between lookups (rebinding).
 */
export type Resolver = (hostname: string) => Promise<readonly ResolvedAddress[]>;

/** The system resolver (`getaddrinfo`, so `/etc/hosts` applies), every address, in its order. */
export const systemResolver: Resolver = (hostname) =>
  dns.promises.lookup(hostname, { all: true, order: 'verbatim' });

type ConnectCallback = (err: Error | null, stream: Duplex) => void;

/**
 * The check both agents run inside `createConnection`, i.e. for every new socket and never for a
 * reused keep-alive one (whose address was checked when it was opened):
 *
 * - a literal address in the URL never reaches a resolver, so it is checked here, before
 *   `net.connect` is called;
 * - a host name is resolved by our `lookup`, handed to `net.connect`: it checks *every* address
 *   the name has and fails the socket before any of them is dialled. `net.connect` then dials
 *   exactly the addresses that lookup returned, so a name that answers differently on a second
 *   lookup (DNS rebinding) gets no second lookup to exploit.
 */
class ConnectionGuard {
  readonly #policy: AddressPolicy;
  readonly #lookup: LookupFunction;

  constructor(policy: AddressPolicy, resolve: Resolver) {
    this.#policy = policy;
    this.#lookup = (hostname, options, callback) => {
      resolveChecked(policy, resolve, hostname, options.family).then(
        (found) => {
          const [first] = found;
          if (options.all) callback(null, [...found]);
          else callback(null, first?.address ?? '', first?.family);
        },
        (error: NodeJS.ErrnoException) => callback(error, ''),
      );
    };
  }

  /**
   * `options` with our lookup, or `undefined` after failing `callback` for a refused literal.
   * The error's `url` is the host alone: the agent never sees the URL, its caller adds it.
   */
  guard<T extends http.ClientRequestArgs>(options: T, callback?: ConnectCallback): T | undefined {
    const host = options.host ?? 'localhost';
    if (isIP(host) !== 0) {
      const refusal = this.#policy.refusal(host, host);
      if (refusal) {
        callback?.(new BlockedDestinationError({ url: host, ...refusal }), undefined as never);
        return undefined;
      }
    }
    return { ...options, lookup: this.#lookup };
  }
}

async function resolveChecked(
  policy: AddressPolicy,
  resolve: Resolver,
  hostname: string,
  family: dns.LookupOptions['family'],
): Promise<readonly ResolvedAddress[]> {
  const all = await resolve(hostname);
  const wanted = family === 4 || family === 6 ? all.filter((a) => a.family === family) : all;
  if (wanted.length === 0) {
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  }
  // One refused address refuses the name: a record set that mixes public and private answers
  // is how rebinding attacks hedge, and happy eyeballs would dial the private one eventually.
  for (const { address } of wanted) {
    const refusal = policy.refusal(hostname, address);
    if (refusal) throw new BlockedDestinationError({ url: hostname, ...refusal });
  }
  return wanted;
}

/** A keep-alive `http.Agent` that connects only where `policy` allows. */
export class GuardedHttpAgent extends http.Agent {
  readonly #guard: ConnectionGuard;

  constructor(policy: AddressPolicy, resolve: Resolver, options: http.AgentOptions) {
    super(options);
    this.#guard = new ConnectionGuard(policy, resolve);
  }

  override createConnection(options: http.ClientRequestArgs, callback?: ConnectCallback) {
    const guarded = this.#guard.guard(options, callback);
    return guarded && super.createConnection(guarded, callback);
  }
}

/** A keep-alive `https.Agent` that connects only where `policy` allows. */
export class GuardedHttpsAgent extends https.Agent {
  readonly #guard: ConnectionGuard;

  constructor(policy: AddressPolicy, resolve: Resolver, options: https.AgentOptions) {
    super(options);
    this.#guard = new ConnectionGuard(policy, resolve);
  }

  override createConnection(options: https.RequestOptions, callback?: ConnectCallback) {
    const guarded = this.#guard.guard(options, callback);
    return guarded && super.createConnection(guarded, callback);
  }
}
