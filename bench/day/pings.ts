// The devices' pings: one device per user, a ping every 10 s of simulated time from its own
// phase. Nothing is stored: the pings of any window, their ids included, are computed again when
// needed (8.64 M a day at 1,000 users), by the client to send them and by the verification to
// count them.

import { rng } from '../zipf-workload.ts';

export interface PingSchedule {
  users: number;
  seed: number;
  /** @defaultValue 10 s */
  everyMs?: number;
}

/** Ping number `k` of device `device`, due `at` ms from the start of the run. */
export interface DuePing {
  device: number;
  k: number;
  at: number;
}

/** Each device's first ping after 0, in [0, everyMs): seeded, so devices do not ping in step. */
export function pingPhases(schedule: PingSchedule): Float64Array {
  const random = rng(schedule.seed ^ 0x5eed);
  const every = schedule.everyMs ?? 10_000;
  return Float64Array.from({ length: schedule.users }, () => Math.floor(random() * every));
}

/** The pings due in [from, to), device by device (each device's in time order). */
export function pingsBetween(
  schedule: PingSchedule,
  phases: Float64Array,
  from: number,
  to: number,
): DuePing[] {
  const every = schedule.everyMs ?? 10_000;
  const out: DuePing[] = [];
  for (let device = 0; device < phases.length; device++) {
    const phase = phases[device] ?? 0;
    for (let k = Math.ceil((from - phase) / every); phase + k * every < to; k++) {
      out.push({ device, k, at: phase + k * every });
    }
  }
  return out;
}

/** How many pings are due in [from, to), without listing them. */
export function pingCount(schedule: PingSchedule, phases: Float64Array, from: number, to: number) {
  const every = schedule.everyMs ?? 10_000;
  let n = 0;
  for (const phase of phases) {
    n += Math.max(0, Math.ceil((to - phase) / every) - Math.ceil((from - phase) / every));
  }
  return n;
}

const hex = (n: number, digits: number) => n.toString(16).padStart(digits, '0');

/**
 * The ping's id, as a client makes one: a UUIDv7 with the send time `ms` in its first 48 bits,
 * and the seed (12 bits), device (30 bits) and `k` (32 bits, as unsigned) in the rest — so each
 * (seed, device, k) has its own id whatever the time, and the verification can tell which ping
 * an id is.
 */
export function pingId(seed: number, device: number, k: number, ms: number): string {
  if (device < 0 || device >= 2 ** 30) throw new Error(`device ${device} is out of 0…2^30`);
  const time = hex(Math.floor(ms), 12);
  const variant = 0x8000 | (device >>> 16);
  return `${time.slice(0, 8)}-${time.slice(8)}-7${hex(seed & 0xfff, 3)}-${hex(variant, 4)}-${hex(device & 0xffff, 4)}${hex(k >>> 0, 8)}`;
}

/** The (device, k) a {@link pingId} encodes, or undefined for an id of another seed or shape. */
export function pingOf(seed: number, id: string): { device: number; k: number } | undefined {
  const m =
    /^[0-9a-f]{8}-[0-9a-f]{4}-7([0-9a-f]{3})-([0-9a-f]{4})-([0-9a-f]{4})([0-9a-f]{8})$/.exec(id);
  if (!m || Number.parseInt(m[1] ?? '', 16) !== (seed & 0xfff)) return undefined;
  const device =
    ((Number.parseInt(m[2] ?? '', 16) & 0x3fff) << 16) | Number.parseInt(m[3] ?? '', 16);
  return { device, k: Number.parseInt(m[4] ?? '', 16) | 0 };
}
