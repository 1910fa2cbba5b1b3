import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { useRedis } from '../../test/fixtures/redis.ts';
import { EndpointSlots } from './endpoint-slots.ts';

const endpoint = {
  apiKeyId: '00000000-0000-4000-8000-000000000001',
  endpoint: 'https://receiver.example',
};

describe('endpoint slots, as leases in Redis', () => {
  const r = useRedis();
  const slots = (leaseMs?: number) =>
    new EndpointSlots({
      redis: r.redis,
      prefix: r.prefix,
      cap: 2,
      ...(leaseMs ? { leaseMs } : {}),
    });

  it('takes at most the cap, renews a holder without a second slot, flags who it turned away, and frees on release', async () => {
    const s = slots();

    expect(await s.acquire(endpoint, ['msg_a', 'msg_b'])).toEqual(['msg_a', 'msg_b']);
    expect(await s.state(endpoint)).toEqual({ held: ['msg_a', 'msg_b'], parked: false });
    expect(await s.acquire(endpoint, ['msg_a', 'msg_c'])).toEqual(['msg_a']);
    // msg_c was turned away: a finishing job will look for it in Postgres.
    expect((await s.state(endpoint)).parked).toBe(true);
    await s.clearParked(endpoint);
    expect(await s.state(endpoint, 'msg_b')).toEqual({ held: ['msg_a'], parked: false });
    expect(await s.acquire(endpoint, ['msg_c'])).toEqual(['msg_c']);
    expect((await s.held(endpoint)).sort()).toEqual(['msg_a', 'msg_c']);
    await s.release(endpoint, 'msg_c');
    expect(await s.held(endpoint)).toEqual(['msg_a']);
    // Another key's endpoint at the same origin has slots of its own.
    const other = { ...endpoint, apiKeyId: '00000000-0000-4000-8000-000000000002' };
    expect(await s.acquire(other, ['msg_d'])).toEqual(['msg_d']);
  });

  it('lets a leaked lease expire: a crashed holder’s slot is free once its lease ends', async () => {
    const crashed = slots(300);
    expect(await crashed.acquire(endpoint, ['msg_lost1', 'msg_lost2'])).toHaveLength(2);
    const s = slots();
    expect(await s.acquire(endpoint, ['msg_next'])).toEqual([]);

    await sleep(400);

    expect(await s.acquire(endpoint, ['msg_next'])).toEqual(['msg_next']);
    expect(await s.held(endpoint)).toEqual(['msg_next']);
  });

  it('keeps no URL in a Redis key, and lets the key expire with its last lease', async () => {
    const s = slots(300);
    await s.acquire(endpoint, ['msg_a']);
    const key = s.key(endpoint);

    expect(key).not.toContain('receiver.example');
    expect(await r.redis.pttl(key)).toBeGreaterThan(0);
    await sleep(400);
    expect(await r.redis.exists(key)).toBe(0);
  });
});
