import { describe, expect, it } from 'vitest';
import { utcDay } from '../../shared/db/partitions.ts';
import { apiUsageKeys, readApiUsageDay } from '../../shared/usage/api-usage.ts';
import { useTestApi } from '../fixtures/api-server.ts';

const valid = { userId: 'user-1', taskType: 'summary', prompt: 'Summarise: the cat sat.' };

describe('usage capture in the API', () => {
  const t = useTestApi();

  it('counts requests per key, user and route in the hour, refused ones included', async () => {
    const { id: keyId, key } = await t.api.key(['generate', 'read']);
    const other = await t.api.key(['read']);
    for (let i = 0; i < 3; i++) {
      expect((await t.api.request('/v1/generations', { key, json: valid })).status).toBe(202);
    }
    await t.api.request('/v1/generations', { key, json: { ...valid, userId: 'user-2' } });
    // Refused by its schema: still a request the key made.
    expect((await t.api.request('/v1/generations', { key, json: { userId: 'x' } })).status).toBe(
      422,
    );
    expect((await t.api.request('/v1/jobs/generate.nope', { key })).status).toBe(404);
    // Refused for want of a scope.
    await t.api.request('/v1/generations', { key: other.key, json: valid });

    const now = new Date();
    const { rows, hoursFound } = await readApiUsageDay(t.redis, t.api.prefix, utcDay(now));
    expect(hoursFound).toBeGreaterThanOrEqual(1); // 2 across an hour boundary
    expect(
      rows.sort((a, b) =>
        `${a.apiKeyId}${a.userId}${a.route}`.localeCompare(`${b.apiKeyId}${b.userId}${b.route}`),
      ),
    ).toEqual(
      [
        { apiKeyId: keyId, userId: '', route: 'GET /v1/jobs/:id', calls: 1 },
        { apiKeyId: keyId, userId: '', route: 'POST /v1/generations', calls: 1 },
        { apiKeyId: keyId, userId: 'user-1', route: 'POST /v1/generations', calls: 3 },
        { apiKeyId: keyId, userId: 'user-2', route: 'POST /v1/generations', calls: 1 },
        { apiKeyId: other.id, userId: '', route: 'POST /v1/generations', calls: 1 },
      ].sort((a, b) =>
        `${a.apiKeyId}${a.userId}${a.route}`.localeCompare(`${b.apiKeyId}${b.userId}${b.route}`),
      ),
    );
    // The hash goes with its day, 8 days after the day's end.
    const ttl = await t.redis.ttl(apiUsageKeys.hour(t.api.prefix, now));
    expect(ttl).toBeGreaterThan(8 * 86_400);
    expect(ttl).toBeLessThanOrEqual(9 * 86_400);
  });

  it('counts nothing for a request without a valid key', async () => {
    const before = await readApiUsageDay(t.redis, t.api.prefix, utcDay(new Date()));
    expect((await t.api.request('/v1/jobs/x', { key: 'lb_nope' })).status).toBe(401);
    const after = await readApiUsageDay(t.redis, t.api.prefix, utcDay(new Date()));
    expect(after.rows).toEqual(before.rows);
  });
});
