import { describe, expect, it } from 'vitest';
import { BlockedDestinationError } from '../errors/blocked-destination-error.ts';
import { WebhookDeliveryError } from '../errors/webhook-delivery-error.ts';
import type { DeliveryResponse } from './http/safe-fetch.ts';
import { judgeError, judgeResponse, nextAttemptDelay } from './retry-policy.ts';

const response = (status: number, retryAfterMs?: number): DeliveryResponse => ({
  status,
  headers: {},
  body: '',
  truncated: false,
  durationMs: 1,
  retryAfterMs,
});

describe('judging an answer', () => {
  it.each([
    [200, 'succeeded', 'ok'],
    [204, 'succeeded', 'ok'],
    [410, 'gone', 'http_410'],
    [400, 'permanent', 'http_4xx'],
    [401, 'permanent', 'http_4xx'],
    [404, 'permanent', 'http_4xx'],
    [408, 'retry', 'http_408'],
    [429, 'retry', 'http_429'],
    [500, 'retry', 'http_5xx'],
    [503, 'retry', 'http_5xx'],
    [301, 'retry', 'http_3xx'],
    [302, 'retry', 'http_3xx'],
    [101, 'retry', 'http_1xx'],
  ])('%i is %s (%s)', (status, kind, reason) => {
    expect(judgeResponse(response(status))).toMatchObject({ kind, reason });
  });

  it('passes Retry-After on with the retries', () => {
    expect(judgeResponse(response(429, 30_000))).toMatchObject({ retryAfterMs: 30_000 });
    expect(judgeResponse(response(503, 5_000))).toMatchObject({ retryAfterMs: 5_000 });
  });

  it('gives up on a blocked, malformed or clear-text URL, retries timeouts and network errors', () => {
    const blocked = new BlockedDestinationError({
      url: 'http://10.0.0.1/',
      hostname: '10.0.0.1',
      address: '10.0.0.1',
      range: 'private',
    });
    expect(judgeError(blocked)).toEqual({ kind: 'permanent', reason: 'blocked' });
    for (const reason of ['invalid-url', 'https-required'] as const) {
      expect(judgeError(new WebhookDeliveryError(reason, 'u', 'm'))).toMatchObject({
        kind: 'permanent',
      });
    }
    for (const reason of ['timeout', 'network'] as const) {
      expect(judgeError(new WebhookDeliveryError(reason, 'u', 'm'))).toEqual({
        kind: 'retry',
        reason,
      });
    }
  });

  it('leaves errors that are not about the receiver to the job (shutdown, database)', () => {
    expect(judgeError(new Error('Connection terminated'))).toBeUndefined();
  });
});

describe('the next attempt', () => {
  const svix = [0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000];
  const next = (runAttempts: number, retryAfterMs?: number) =>
    nextAttemptDelay({ scheduleMs: svix, runAttempts, retryAfterMs, retryAfterMaxMs: 3_600_000 });

  it('follows the schedule: 5 s after the first attempt, … 10 h after the seventh', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => next(n))).toEqual(svix.slice(1));
  });

  it('is none after the last attempt: the delivery is dead', () => {
    expect(next(8)).toBeUndefined();
  });

  it('waits longer when Retry-After asks for it, never shorter, and at most the bound', () => {
    expect(next(1, 60_000)).toBe(60_000);
    expect(next(3, 60_000)).toBe(1_800_000);
    expect(next(1, 86_400_000)).toBe(3_600_000);
    expect(next(1, 0)).toBe(5_000);
  });
});
