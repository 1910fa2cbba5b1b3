import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { generateRequestSchema } from '../../shared/generation/schema.ts';
import { rng } from '../zipf-workload.ts';
import { DAY_MS, diurnalRate, scheduleArrivals } from './arrivals.ts';
import { oracleHitRate } from './oracle.ts';
import { pingCount, pingId, pingOf, pingPhases, pingsBetween } from './pings.ts';
import { type DayRequest, DEFAULT_MIX, dayWorkload } from './workload.ts';

const USERS = 1_000;
const workload = dayWorkload({ users: USERS, seed: 7 });
const day0 = workload.filter((r) => r.at >= 0);
const HOUR = 3_600_000;

describe('the day workload', () => {
  it('is the same for the same seed and another for another seed', () => {
    const small = { users: 50, seed: 11 };
    expect(dayWorkload(small)).toEqual(dayWorkload(small));
    expect(dayWorkload({ ...small, seed: 12 })).not.toEqual(dayWorkload(small));
  });

  it('asks 30 requests per user per day, the previous day included, in time order', () => {
    expect(day0).toHaveLength(USERS * 30);
    expect(workload).toHaveLength(2 * USERS * 30);
    expect(workload.every((r, i) => i === 0 || (workload[i - 1] as DayRequest).at <= r.at)).toBe(
      true,
    );
    expect(Math.min(...day0.map((r) => r.at))).toBeGreaterThanOrEqual(0);
    expect(Math.max(...day0.map((r) => r.at))).toBeLessThan(DAY_MS);
  });

  it('draws the 40 / 35 / 18 / 7 mix and a webhook on half the requests', () => {
    for (const [kind, share] of Object.entries(DEFAULT_MIX)) {
      const got = day0.filter((r) => r.kind === kind).length / day0.length;
      expect(got, kind).toBeGreaterThan(share - 0.015);
      expect(got, kind).toBeLessThan(share + 0.015);
    }
    expect(day0.filter((r) => r.webhook).length / day0.length).toBeCloseTo(0.5, 1);
    const fresh = day0.filter((r) => r.kind === 'new');
    expect(fresh.filter((r) => r.shape === 'chat').length).toBeGreaterThan(0);
    expect(fresh.filter((r) => r.body.responseFormat).length).toBeGreaterThan(0);
  });

  it('reuses only what was asked in the 24 hours before: same body, other wording, same params', () => {
    const seen = { exact: new Map<string, number>(), meaning: new Map(), template: new Map() };
    const recent = (map: Map<string, number>, key: string | undefined, at: number) =>
      key !== undefined && map.has(key) && at - (map.get(key) ?? 0) <= DAY_MS;
    for (const r of workload) {
      if (r.at >= 0 && r.kind === 'repeat')
        expect(recent(seen.exact, r.keys.exact, r.at)).toBe(true);
      if (r.at >= 0 && r.kind === 'paraphrase') {
        expect(recent(seen.meaning, r.keys.meaning, r.at)).toBe(true);
      }
      if (r.at >= 0 && r.kind === 'template') {
        expect(recent(seen.template, r.keys.template, r.at)).toBe(true);
      }
      if (r.kind === 'new') {
        expect(seen.meaning.has(r.keys.meaning) || seen.template.has(r.keys.template)).toBe(false);
      }
      seen.exact.set(r.keys.exact, r.at);
      if (r.keys.meaning) seen.meaning.set(r.keys.meaning, r.at);
      if (r.keys.template) seen.template.set(r.keys.template, r.at);
    }
  });

  it('sends bodies the API accepts', () => {
    for (const r of day0.slice(0, 2_000))
      expect(generateRequestSchema.safeParse(r.body).success).toBe(true);
  });

  it('follows the diurnal curve, peak:trough 3:1, and Zipf activity over the users', () => {
    expect(diurnalRate(15 * HOUR) / diurnalRate(3 * HOUR)).toBeCloseTo(3, 10);
    const arrivals = scheduleArrivals({
      users: USERS,
      perUser: 60,
      first: 0,
      days: 1,
      exponent: 0.8,
      random: rng(3),
    });
    const within = (from: number, to: number) =>
      arrivals.filter((a) => a.at >= from * HOUR && a.at < to * HOUR).length;
    // Mean rate over ±1 h of 2 ± cos: 2 ± sin(π/12)/(π/12), a ratio of 2.955.
    expect(within(14, 16) / within(2, 4)).toBeGreaterThan(2.7);
    expect(within(14, 16) / within(2, 4)).toBeLessThan(3.25);
    const byUser = new Map<number, number>();
    for (const a of arrivals) byUser.set(a.user, (byUser.get(a.user) ?? 0) + 1);
    // Weights 1/(i+1)^0.8: user 0 asks 10^0.8 = 6.3× what user 9 does.
    const ratio = (byUser.get(0) ?? 0) / (byUser.get(9) ?? 1);
    expect(ratio).toBeGreaterThan(5.3);
    expect(ratio).toBeLessThan(7.4);
  });
});

describe('the oracle hit rate', () => {
  const ttls = { exactMs: 24 * HOUR, semanticMs: HOUR };
  const stream = [
    { at: 0, keys: { exact: 'a', meaning: 'm' } }, // miss: a for 24 h, m for 1 h
    { at: 0.2 * HOUR, keys: { exact: 'a', meaning: 'm' } }, // exact
    { at: 0.5 * HOUR, keys: { exact: 'b', meaning: 'm' } }, // semantic (fills nothing)
    { at: HOUR, keys: { exact: 'p1', template: 'T' } }, // miss
    { at: 1.1 * HOUR, keys: { exact: 'p2', template: 'T' } }, // template
    { at: 2 * HOUR, keys: { exact: 'b', meaning: 'm' } }, // miss: m expired at 1 h, b never filled
    { at: 2.5 * HOUR, keys: { exact: 'c', meaning: 'm' } }, // semantic (m refilled at 2 h)
    { at: 25 * HOUR, keys: { exact: 'a', meaning: 'm' } }, // miss: a expired at 24 h
    { at: 25.5 * HOUR, keys: { exact: 'b' } }, // exact (b filled at 2 h)
    { at: 26 * HOUR, keys: { exact: 'b' } }, // miss: b expired at 26 h
  ];

  it('counts repeats within their TTLs, filled only by a model answer', () => {
    expect(oracleHitRate(stream, ttls)).toEqual({
      requests: 10,
      hits: 5,
      rate: 0.5,
      byLayer: { exact: 2, template: 1, semantic: 2 },
    });
  });

  it('starts from an empty cache at `from`, or from the one the earlier requests left when warm', () => {
    const from = 2 * HOUR;
    expect(oracleHitRate(stream, ttls, { from })).toMatchObject({ requests: 5, hits: 2 });
    expect(oracleHitRate(stream, ttls, { from, warm: true })).toMatchObject({
      requests: 5,
      hits: 2,
      byLayer: { exact: 1, template: 0, semantic: 1 },
    });
    // Cold from 0.1 h: the `a` at 0.2 h misses and fills `a` until 24.2 h.
    expect(oracleHitRate(stream, ttls, { from: 0.1 * HOUR })).toMatchObject({
      requests: 9,
      hits: 4,
      byLayer: { exact: 1, template: 1, semantic: 2 },
    });
    expect(oracleHitRate(stream, ttls, { from: 0.1 * HOUR, warm: true })).toMatchObject({
      hits: 5,
    });
  });

  it('stays under the share a perfect cache could answer on the generated day', () => {
    const result = oracleHitRate(workload, ttls, { from: 0 });
    const reusing = day0.filter((r) => r.kind !== 'new').length / day0.length;
    expect(result.requests).toBe(day0.length);
    expect(result.rate).toBeGreaterThan(0.5);
    expect(result.rate).toBeLessThanOrEqual(reusing);
  });
});

describe('the pings', () => {
  const schedule = { users: 20, seed: 5 };
  const phases = pingPhases(schedule);

  it('are due every 10 s per device, and counted without listing them', () => {
    const hour = pingsBetween(schedule, phases, HOUR, 2 * HOUR);
    expect(hour).toHaveLength(20 * 360);
    expect(pingCount(schedule, phases, HOUR, 2 * HOUR)).toBe(hour.length);
    expect(pingCount(schedule, phases, -DAY_MS, 12_345)).toBe(
      pingsBetween(schedule, phases, -DAY_MS, 12_345).length,
    );
    const device3 = hour.filter((p) => p.device === 3).map((p) => p.at);
    expect(device3.slice(1).every((at, i) => at - (device3[i] as number) === 10_000)).toBe(true);
  });

  it('have one UUIDv7 id each, from which the device and ping number read back', () => {
    const ids = new Set<string>();
    for (const { device, k } of pingsBetween(schedule, phases, -HOUR, HOUR)) {
      const id = pingId(5, device, k, 1_765_000_000_000);
      expect(z.uuid().safeParse(id).success).toBe(true);
      expect(pingOf(5, id)).toEqual({ device, k });
      ids.add(id);
    }
    expect(ids.size).toBe(20 * 720);
    expect(pingOf(5, pingId(5, 2 ** 30 - 1, -1, 0))).toEqual({ device: 2 ** 30 - 1, k: -1 });
    expect(pingOf(6, pingId(5, 1, 1, 0))).toBeUndefined();
  });
});
