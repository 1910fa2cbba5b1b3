import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parsePings } from './ping.ts';

const now = Date.parse('2026-06-15T12:00:00Z');
const ping = (over: Record<string, unknown> = {}) => ({
  pingId: randomUUID(),
  deviceId: 'd',
  ts: '2026-06-15T11:59:00Z',
  metric: 'm',
  value: 1,
  ...over,
});

describe('parsePings', () => {
  it('accepts a late ping and refuses one from a clock far ahead', () => {
    expect(parsePings([ping({ ts: '2026-06-01T00:00:00+02:00' })], now).ok).toBe(true);
    expect(parsePings([ping({ ts: '2026-06-15T12:10:00Z' })], now)).toEqual({
      ok: false,
      issues: [{ index: 0, field: 'ts', message: expect.stringContaining('in the future') }],
    });
  });

  it('refuses a ping older than 30 days: each day would become a partition', () => {
    expect(
      parsePings([ping({ ts: '2026-05-01T00:00:00Z' }), ping({ ts: '0000-06-01T00:00:00Z' })], now),
    ).toEqual({
      ok: false,
      issues: [
        { index: 0, field: 'ts', message: expect.stringContaining('more than 30 days old') },
        { index: 1, field: 'ts', message: expect.stringContaining('more than 30 days old') },
      ],
    });
  });

  it('refuses text Postgres cannot store, so one ping cannot fail a whole flush', () => {
    const result = parsePings(
      [
        ping({ deviceId: 'a\u0000b' }),
        ping({ attrs: { fw: '\ud800' } }),
        ping({ attrs: { 'k\u0000': 1 } }),
      ],
      now,
    );
    expect(result.ok).toBe(false);
    expect(!result.ok && result.issues.map((i) => [i.index, i.field, i.message])).toEqual([
      [0, 'deviceId', 'must not contain a NUL character'],
      [1, 'attrs.fw', 'must be valid Unicode (no lone surrogates)'],
      // zod reports a refused record key as an invalid key, without the refinement's text.
      [2, 'attrs.k\u0000', 'Invalid key in record'],
    ]);
  });
});
