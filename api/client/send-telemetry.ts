import type { Ping } from '../../shared/telemetry/ping.ts';
import type { TelemetryAccepted } from '../schemas.ts';
import { LowburnApiError } from './errors/lowburn-api-error.ts';
import type { Send } from './transport.ts';

/** The most pings the API takes in one request (`MAX_PINGS_PER_REQUEST` of the route). */
export const MAX_PINGS_PER_REQUEST = 1_000;

/**
 * A new ping id: a UUIDv7, i.e. its first 48 bits are the current time in milliseconds. Ids made
 * at about the same time sit next to each other in the `(ping_id, ts)` primary key, so a flush
 * appends to a few index pages instead of touching a random page per ping (random v4 ids cost
 * the flush ~20 % more Postgres CPU in bench:telemetry). Any UUID is accepted; this is the fast one.
 */
export function newPingId(): string {
  // RFC 9562 §5.7 by hand: the client ships without runtime dependencies (edge bundles).
  // Random bytes come from a pool refilled 256 ids at a time: one getRandomValues call per id
  // cost more than the rest of the id.
  if (poolAt + 10 > randomPool.length) {
    crypto.getRandomValues(randomPool);
    poolAt = 0;
  }
  const r = randomPool;
  const at = poolAt;
  poolAt += 10;
  let ms = Date.now();
  const time = new Array<string>(6);
  for (let i = 5; i >= 0; i--) {
    time[i] = HEX_BYTE[ms % 256] as string;
    ms = Math.floor(ms / 256);
  }
  const h = (i: number) => HEX_BYTE[r[at + i] as number] as string;
  // Bytes 6 and 8 carry the version (7) and the variant (binary 10).
  const version = HEX_BYTE[((r[at] as number) & 0x0f) | 0x70] as string;
  const variant = HEX_BYTE[((r[at + 2] as number) & 0x3f) | 0x80] as string;
  return `${time.slice(0, 4).join('')}-${time[4]}${time[5]}-${version}${h(1)}-${variant}${h(3)}-${h(4)}${h(5)}${h(6)}${h(7)}${h(8)}${h(9)}`;
}

const HEX_BYTE = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));
const randomPool = new Uint8Array(2560);
let poolAt = randomPool.length;

/**
 * A ping as `telemetry.send` takes it. `pingId` may be left out: the client fills in a
 * {@link newPingId}. Pass your own when you may resend the same pings yourself (after a crash, from a queue),
 * so the API can store each one once.
 */
export type TelemetryPingInput = Omit<Ping, 'pingId'> & { pingId?: string | undefined };

export interface SendTelemetryOptions {
  signal?: AbortSignal | undefined;
}

/** Sends one request's pings; returns how many the API accepted. */
async function sendBatch(
  send: Send,
  batch: Ping[],
  signal: AbortSignal | undefined,
): Promise<number> {
  try {
    const answer = await send<TelemetryAccepted>({
      method: 'POST',
      path: 'v1/telemetry',
      body: batch,
      // The pingIds make a resent batch a no-op on the server, so a lost answer may be retried.
      repeatable: true,
      signal,
    });
    return answer.accepted;
  } catch (error) {
    // 1,000 pings with many attributes can outgrow the API's body limit (`API_MAX_BODY_KB`, set
    // per deployment). A 413 refused the whole batch, so each half is sent on its own.
    if (!(error instanceof LowburnApiError && error.status === 413 && batch.length > 1)) {
      throw error;
    }
    const half = Math.ceil(batch.length / 2);
    return (
      (await sendBatch(send, batch.slice(0, half), signal)) +
      (await sendBatch(send, batch.slice(half), signal))
    );
  }
}

/**
 * Sends `pings` as `POST /v1/telemetry` requests of at most 1,000, one after another (halving a
 * request the API refuses as too large). Every ping gets its `pingId` before the first request
 * goes out, so each retry of a request (after a lost answer, a 429 or a 503) resends the same ids
 * and the API stores each ping once.
 */
export async function sendTelemetry(
  send: Send,
  pings: readonly TelemetryPingInput[],
  options: SendTelemetryOptions = {},
): Promise<TelemetryAccepted> {
  if (!Array.isArray(pings)) {
    throw new TypeError('pings must be an array of pings');
  }
  const withIds: Ping[] = pings.map((ping) =>
    ping.pingId === undefined ? { ...ping, pingId: newPingId() } : (ping as Ping),
  );
  let accepted = 0;
  for (let start = 0; start < withIds.length; start += MAX_PINGS_PER_REQUEST) {
    const batch = withIds.slice(start, start + MAX_PINGS_PER_REQUEST);
    accepted += await sendBatch(send, batch, options.signal);
  }
  return { accepted };
}
