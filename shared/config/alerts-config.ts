import type { ConfigIssue } from '../errors/config-error.ts';
import { envSpec } from './env-spec.ts';

/** Operator alerts and the daily digest (`check-alerts`, `send-digest`, shared/alerts). */
export interface AlertsConfig {
  /** `CPAU_TARGET_USD`: the top of the CPAU band (the dashboard draws it too). */
  cpauTargetUsd: number;
  /** Where operator events go, and the `whsec_` secret that signs them; unset: log lines only. */
  webhook: { url: string; secret: string } | undefined;
  /** `ALERT_CRON`: when the conditions are evaluated. */
  cron: string;
  /** `ALERT_JOB_GRACE`: how late a nightly job's run may start before it counts as missed. */
  jobGraceMs: number;
  /** `DIGEST_CRON`: when the daily digest goes out. */
  digestCron: string;
}

/** The alerts section of the config; a URL without its secret (or the reverse) is an issue. */
export function alertsConfig(
  raw: {
    CPAU_TARGET_USD: number;
    ALERT_WEBHOOK_URL: string | undefined;
    ALERT_WEBHOOK_SECRET: string | undefined;
    ALERT_CRON: string;
    ALERT_JOB_GRACE: number;
    DIGEST_CRON: string;
  },
  issues: ConfigIssue[],
): AlertsConfig {
  const url = raw.ALERT_WEBHOOK_URL;
  const secret = raw.ALERT_WEBHOOK_SECRET;
  if (Boolean(url) !== Boolean(secret)) {
    const missing = url ? 'ALERT_WEBHOOK_SECRET' : 'ALERT_WEBHOOK_URL';
    issues.push({
      variable: missing,
      problem: 'is required when the other of ALERT_WEBHOOK_URL / ALERT_WEBHOOK_SECRET is set',
      example: envSpec[missing].example,
    });
  }
  return {
    cpauTargetUsd: raw.CPAU_TARGET_USD,
    webhook: url && secret ? { url, secret } : undefined,
    cron: raw.ALERT_CRON,
    jobGraceMs: raw.ALERT_JOB_GRACE,
    digestCron: raw.DIGEST_CRON,
  };
}
