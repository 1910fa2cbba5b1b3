import { describe, expect, it } from 'vitest';
import { loadConfig } from './load-config.ts';

const base = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
  REDIS_URL: 'redis://127.0.0.1:6379',
};
const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;

describe('the alert settings', () => {
  it('default to a check every minute, a digest at 08:00, log lines only and the seeds’ CPAU band top', () => {
    expect(loadConfig(base).alerts).toEqual({
      cpauTargetUsd: 0.01,
      webhook: undefined,
      cron: '* * * * *',
      jobGraceMs: 15 * 60_000,
      digestCron: '0 8 * * *',
    });
  });

  it('send to ALERT_WEBHOOK_URL signed with ALERT_WEBHOOK_SECRET', () => {
    const config = loadConfig({
      ...base,
      ALERT_WEBHOOK_URL: 'https://ops.example.com/hooks',
      ALERT_WEBHOOK_SECRET: secret,
      CPAU_TARGET_USD: '0.05',
    });
    expect(config.alerts).toMatchObject({
      cpauTargetUsd: 0.05,
      webhook: { url: 'https://ops.example.com/hooks', secret },
    });
  });

  it('refuse a URL without its secret, naming the missing one', () => {
    expect(() =>
      loadConfig({ ...base, ALERT_WEBHOOK_URL: 'https://ops.example.com/hooks' }),
    ).toThrow(/ALERT_WEBHOOK_SECRET.*is required when the other of ALERT_WEBHOOK_URL/);
    expect(() => loadConfig({ ...base, ALERT_WEBHOOK_SECRET: secret })).toThrow(
      /ALERT_WEBHOOK_URL/,
    );
  });

  it('refuse a secret that is not whsec_ and 16 bytes or more, a bad cron, a band of 0', () => {
    const url = { ALERT_WEBHOOK_URL: 'https://ops.example.com/hooks' };
    expect(() => loadConfig({ ...base, ...url, ALERT_WEBHOOK_SECRET: 'hunter2' })).toThrow(
      /ALERT_WEBHOOK_SECRET.*whsec_/,
    );
    expect(() => loadConfig({ ...base, DIGEST_CRON: 'at eight' })).toThrow(/DIGEST_CRON/);
    expect(() => loadConfig({ ...base, CPAU_TARGET_USD: '0' })).toThrow(/CPAU_TARGET_USD/);
  });
});
