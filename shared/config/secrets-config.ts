import type { ConfigIssue } from '../errors/config-error.ts';
import { DEV_SECRETS_KEY, decodeSecretKey } from '../secrets/secret-key.ts';
import { envSpec } from './env-spec.ts';

/** The keys that seal secrets at rest (see shared/secrets). */
export interface SecretsConfig {
  /**
   * `SECRETS_KEY`'s bytes. Outside production an unset key is the public development key
   * (`devKey: true`); in production it stays unset, and the processes that need it refuse to
   * start (shared/config/process-requirements.ts).
   */
  key: Buffer | undefined;
  previousKey: Buffer | undefined;
  /** `key` is the public development key: it protects nothing, and processes say so at boot. */
  devKey: boolean;
}

/**
 * The secrets section of the config. Without `SECRETS_KEY`, development and tests seal with the
 * public development key, so they run the same encrypted path as production (and a dump of a
 * development database holds no plaintext either); production gets no key, never that one.
 */
export function secretsConfig(raw: {
  NODE_ENV: 'development' | 'production' | 'test';
  SECRETS_KEY: Buffer | undefined;
  SECRETS_KEY_PREVIOUS: Buffer | undefined;
}): SecretsConfig {
  const devKey = decodeSecretKey(DEV_SECRETS_KEY);
  const key = raw.SECRETS_KEY ?? (raw.NODE_ENV === 'production' ? undefined : devKey);
  return {
    key,
    previousKey: raw.SECRETS_KEY_PREVIOUS,
    devKey: key !== undefined && devKey !== undefined && key.equals(devKey),
  };
}

/** The issue of a missing `SECRETS_KEY`: `problem` says who needs it, and why. */
export function missingSecretsKey(problem: string): ConfigIssue {
  return { variable: 'SECRETS_KEY', problem, example: envSpec.SECRETS_KEY.example };
}
