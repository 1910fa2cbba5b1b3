import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load-config.ts';
import { ConfigError } from '../errors/config-error.ts';

const base = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
  REDIS_URL: 'redis://127.0.0.1:6379',
};

function problems(env: Record<string, string>): string {
  try {
    loadConfig({ ...base, ...env });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('the WEBHOOK_* settings', () => {
  it('default to the Svix schedule, 15 s, 64 KB, https only, no allow-list, 30 days kept, 10 slots per endpoint, disabled after 5 days', () => {
    expect(loadConfig(base).webhooks).toEqual({
      retryScheduleMs: [
        0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
      ],
      retryAfterMaxMs: 3_600_000,
      timeoutMs: 15_000,
      maxResponseBytes: 65_536,
      allowList: [],
      blockedRanges: [],
      allowHttp: false,
      retentionMs: 30 * 86_400_000,
      endpointConcurrency: 10,
      disableAfterMs: 5 * 86_400_000,
      dispatchEveryMs: 1_000,
    });
  });

  it('read lists and schedules as written', () => {
    const config = loadConfig({
      ...base,
      WEBHOOK_RETRY_SCHEDULE: '0s, 250ms, 1m',
      WEBHOOK_ALLOW_LIST: '127.0.0.1/32, receiver.internal, ::1',
      WEBHOOK_BLOCKED_RANGES: '203.0.113.0/24,2001:db8::/32',
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_MAX_RESPONSE_KB: '16',
      WEBHOOK_RETENTION: '90d',
      WEBHOOK_ENDPOINT_CONCURRENCY: '4',
      WEBHOOK_DISABLE_AFTER: '36h',
      WEBHOOK_DISPATCH_EVERY: '2s',
    });
    expect(config.webhooks).toMatchObject({
      retryScheduleMs: [0, 250, 60_000],
      allowList: ['127.0.0.1/32', 'receiver.internal', '::1'],
      blockedRanges: ['203.0.113.0/24', '2001:db8::/32'],
      allowHttp: true,
      maxResponseBytes: 16_384,
      retentionMs: 90 * 86_400_000,
      endpointConcurrency: 4,
      disableAfterMs: 36 * 3_600_000,
      dispatchEveryMs: 2_000,
    });
  });

  it('refuse at boot what would fail at the first delivery', () => {
    expect(problems({ WEBHOOK_RETRY_SCHEDULE: '5s,10s' })).toMatch(
      /WEBHOOK_RETRY_SCHEDULE: .*starting with 0s/,
    );
    expect(problems({ WEBHOOK_RETRY_SCHEDULE: '0s,soon' })).toMatch(/soon is not a duration/);
    expect(problems({ WEBHOOK_BLOCKED_RANGES: '10.0.0.0/33' })).toMatch(
      /"10.0.0.0\/33" is not an address or CIDR/,
    );
    expect(problems({ WEBHOOK_BLOCKED_RANGES: 'internal.example' })).toMatch(
      /WEBHOOK_BLOCKED_RANGES: .*not an address or CIDR/,
    );
    expect(problems({ WEBHOOK_ALLOW_LIST: 'http://x' })).toMatch(/WEBHOOK_ALLOW_LIST/);
    expect(problems({ WEBHOOK_TIMEOUT: '2m' })).toMatch(/between 100ms and 30s/);
    // A retention shorter than an operator's reaction time would prune dead letters unreplayed.
    expect(problems({ WEBHOOK_RETENTION: '10m' })).toMatch(/WEBHOOK_RETENTION: .*at least 1h/);
    // No slot at all would park every delivery forever.
    expect(problems({ WEBHOOK_ENDPOINT_CONCURRENCY: '0' })).toMatch(/WEBHOOK_ENDPOINT_CONCURRENCY/);
    expect(problems({ WEBHOOK_ENDPOINT_CONCURRENCY: 'ten' })).toMatch(
      /WEBHOOK_ENDPOINT_CONCURRENCY/,
    );
    expect(problems({ WEBHOOK_DISABLE_AFTER: 'a week' })).toMatch(
      /WEBHOOK_DISABLE_AFTER: .*not a duration/,
    );
    expect(problems({ WEBHOOK_DISABLE_AFTER: '0s' })).toMatch(
      /WEBHOOK_DISABLE_AFTER: .*longer than 0/,
    );
    expect(problems({ WEBHOOK_DISPATCH_EVERY: '10ms' })).toMatch(
      /WEBHOOK_DISPATCH_EVERY: .*between 100ms and 1m/,
    );
  });

  it('refuse clear-text webhooks in production', () => {
    expect(
      problems({
        NODE_ENV: 'production',
        BOARD_PASSWORD: 'a-long-random-password',
        WEBHOOK_ALLOW_HTTP: 'true',
      }),
    ).toMatch(/WEBHOOK_ALLOW_HTTP: must be false when NODE_ENV=production/);
  });
});
