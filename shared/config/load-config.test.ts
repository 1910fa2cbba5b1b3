import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/config-error.ts';
import { parseDuration } from './duration.ts';
import { loadConfig } from './load-config.ts';
import { assertProcessRequirements } from './process-requirements.ts';

const base = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
  REDIS_URL: 'redis://127.0.0.1:6379',
};

function problems(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies the defaults when only the connection strings are set', () => {
    const config = loadConfig(base);
    expect(config.env).toBe('development');
    expect(config.queuePrefix).toBe('lowburn');
    expect(config.storage).toMatchObject({ driver: 'file' });
    expect(config.worker).toMatchObject({
      queues: 'all',
      scheduleTz: 'UTC',
      shutdownGraceMs: 25_000,
    });
  });

  it('names every missing required variable with an example', () => {
    const message = problems({});
    expect(message).toMatch(
      /DATABASE_URL: is required but not set \(example: DATABASE_URL=postgres:/,
    );
    expect(message).toMatch(/REDIS_URL: is required/);
  });

  it('says what is wrong with a bad value and shows a good one', () => {
    const message = problems({ ...base, SHUTDOWN_GRACE: 'soon', SCHEDULE_TZ: 'Mars/Olympus' });
    expect(message).toContain('SHUTDOWN_GRACE: "soon" is not a duration like 30s, 5m or 7d');
    expect(message).toContain('SCHEDULE_TZ: "Mars/Olympus" must be an IANA time zone');
  });

  it('reads the fine-tune export settings, its scrub patterns compiled', () => {
    expect(loadConfig(base).finetune).toEqual({
      cron: '0 4 * * 0',
      windowMs: 30 * 86_400_000,
      include: [],
      maxTokens: 4096,
      scrubPatterns: [],
    });
    const config = loadConfig({
      ...base,
      FINETUNE_INCLUDE: 'local-validated, frontier-routed',
      FINETUNE_SCRUB_PATTERNS: '{"ORDER_ID":"ord_[0-9a-z]{12}"}',
    });
    expect(config.finetune.include).toEqual(['local-validated', 'frontier-routed']);
    expect(config.finetune.scrubPatterns).toEqual([
      { name: 'ORDER_ID', pattern: /ord_[0-9a-z]{12}/g },
    ]);
  });

  it.each([
    ['{"order":"ord_[0-9]+"}', 'must be an upper-case name'],
    ['{"ORDER":"("}', 'ORDER: Invalid regular expression'],
    ['{"ORDER":"x*"}', 'matches the empty text'],
    ['["ord"]', 'must be a JSON object'],
  ])('refuses FINETUNE_SCRUB_PATTERNS=%s', (value, message) => {
    expect(problems({ ...base, FINETUNE_SCRUB_PATTERNS: value })).toContain(message);
  });

  it('refuses an unknown FINETUNE_INCLUDE source', () => {
    expect(problems({ ...base, FINETUNE_INCLUDE: 'everything' })).toContain(
      '"everything" is not one of frontier-routed, local-validated',
    );
  });

  it('never prints a secret value', () => {
    const message = problems({ ...base, REDIS_URL: 'http://user:hunter2@host' });
    expect(message).toContain('REDIS_URL: (secret value hidden)');
    expect(message).not.toContain('hunter2');
  });

  it('accepts a hash-tagged queue prefix for Redis Cluster', () => {
    expect(loadConfig({ ...base, QUEUE_PREFIX: '{lowburn}' }).queuePrefix).toBe('{lowburn}');
    expect(problems({ ...base, QUEUE_PREFIX: 'low:burn' })).toContain('QUEUE_PREFIX');
  });

  describe('with REDIS_CLUSTER=true', () => {
    const cluster = { ...base, REDIS_CLUSTER: 'true' };

    it('refuses a queue prefix without a hash tag and says what to set', () => {
      const message = problems({ ...cluster, QUEUE_PREFIX: 'shop' });
      expect(message).toContain('QUEUE_PREFIX: "shop" has no hash tag');
      expect(message).toContain('QUEUE_PREFIX={shop}');
      // The default prefix is not one either.
      expect(problems(cluster)).toContain('QUEUE_PREFIX={lowburn}');
    });

    it('refuses a database number, which a cluster does not have', () => {
      const message = problems({
        ...cluster,
        QUEUE_PREFIX: '{lowburn}',
        REDIS_URL: 'redis://h:6379/2',
      });
      expect(message).toContain('REDIS_URL: names database 2');
    });

    it('takes a hash-tagged prefix and marks the connection a cluster', () => {
      const config = loadConfig({ ...cluster, QUEUE_PREFIX: '{lowburn}' });
      expect(config.redis).toEqual({ url: base.REDIS_URL, cluster: true });
      expect(loadConfig(base).redis.cluster).toBe(false);
    });
  });

  it('parses an s3 storage URL into bucket and prefix and requires credentials', () => {
    expect(problems({ ...base, STORAGE_URL: 's3://cold-bucket/prod' })).toMatch(
      /S3_ACCESS_KEY_ID: is required when STORAGE_URL is s3:\/\//,
    );
    const config = loadConfig({
      ...base,
      STORAGE_URL: 's3://cold-bucket/prod/eu',
      S3_ACCESS_KEY_ID: 'id',
      S3_SECRET_ACCESS_KEY: 'secret',
      S3_FORCE_PATH_STYLE: 'TRUE',
    });
    expect(config.storage).toMatchObject({
      driver: 's3',
      bucket: 'cold-bucket',
      prefix: 'prod/eu',
      region: 'auto',
      forcePathStyle: true,
      checksumMode: 'when_required',
    });
  });

  it('uses the default S3 keys as a pair, only when neither S3 key is set', () => {
    const s3 = {
      ...base,
      STORAGE_URL: 's3://lowburn',
      S3_DEFAULT_ACCESS_KEY_ID: 'minio-user',
      S3_DEFAULT_SECRET_ACCESS_KEY: 'minio-pass',
    };
    const keysOf = (env: Record<string, string>) => {
      const storage = loadConfig(env).storage;
      return storage.driver === 's3' ? [storage.accessKeyId, storage.secretAccessKey] : [];
    };
    expect(keysOf(s3)).toEqual(['minio-user', 'minio-pass']);
    // What docker compose passes for an unset variable: empty, which counts as unset.
    expect(keysOf({ ...s3, S3_ACCESS_KEY_ID: '', S3_SECRET_ACCESS_KEY: '' })).toEqual([
      'minio-user',
      'minio-pass',
    ]);
    expect(keysOf({ ...s3, S3_ACCESS_KEY_ID: 'r2-id', S3_SECRET_ACCESS_KEY: 'r2-secret' })).toEqual(
      ['r2-id', 'r2-secret'],
    );
    expect(problems({ ...s3, S3_ACCESS_KEY_ID: 'r2-id' })).toMatch(
      /S3_SECRET_ACCESS_KEY: is required when STORAGE_URL is s3:\/\//,
    );
  });

  it('reads "false" as false, not as a truthy string', () => {
    expect(loadConfig({ ...base, BOARD_READ_ONLY: 'false' }).board.readOnly).toBe(false);
    expect(problems({ ...base, BOARD_READ_ONLY: 'maybe' })).toContain('must be true or false');
  });

  it('does not ask every process for the board password in production', () => {
    expect(() => loadConfig({ ...base, NODE_ENV: 'production' })).not.toThrow();
  });

  it('requires a board password of the board in production, naming the process', () => {
    // SECRETS_KEY: the worker's own requirement (see secrets-config.test.ts).
    const config = loadConfig({
      ...base,
      NODE_ENV: 'production',
      SECRETS_KEY: `${'A'.repeat(43)}=`,
    });
    for (const name of ['api', 'worker', 'cli'] as const) {
      expect(() => assertProcessRequirements(config, name)).not.toThrow();
    }
    expect(() => assertProcessRequirements(config, 'board')).toThrow(
      'BOARD_PASSWORD: is required by `lowburn board` when NODE_ENV=production',
    );
    const withPassword = loadConfig({
      ...base,
      NODE_ENV: 'production',
      BOARD_PASSWORD: 'a-long-random-password',
    });
    expect(() => assertProcessRequirements(withPassword, 'board')).not.toThrow();
  });

  it('wants a viewer login that differs from the operator’s and an operator to go with it', () => {
    const viewer = { BOARD_VIEWER_PASSWORD: 'a-viewer-password-here' };
    expect(problems({ ...base, ...viewer })).toContain(
      'BOARD_PASSWORD: is required when BOARD_VIEWER_PASSWORD is set',
    );
    const operator = { BOARD_PASSWORD: 'a-long-random-password' };
    expect(
      problems({ ...base, ...operator, BOARD_VIEWER_PASSWORD: 'a-long-random-password' }),
    ).toContain('BOARD_VIEWER_PASSWORD: must differ from BOARD_PASSWORD');
    expect(problems({ ...base, ...operator, ...viewer, BOARD_VIEWER_USERNAME: 'admin' })).toContain(
      'BOARD_VIEWER_USERNAME: must differ from BOARD_USERNAME ("admin")',
    );
    const board = loadConfig({ ...base, ...operator, ...viewer }).board;
    expect(board).toMatchObject({
      viewerUsername: 'viewer',
      viewerPassword: 'a-viewer-password-here',
      sessionTtlMs: 12 * 3_600_000,
      loginFailuresPerIp: 10,
    });
  });

  it('splits WORKER_QUEUES into names', () => {
    const config = loadConfig({ ...base, WORKER_QUEUES: 'flush-telemetry, export-cold' });
    expect(config.worker.queues).toEqual(['flush-telemetry', 'export-cold']);
  });

  it('audits 1 % of the semantic hits, at most 200, by default', () => {
    expect(loadConfig(base).cacheAudit).toEqual({
      sampleRate: 0.01,
      maxSamples: 200,
      minSimilarity: 0.9,
      maxFalseHit: 0.05,
    });
    expect(problems({ ...base, AUDIT_SAMPLE_RATE: '0' })).toMatch(
      /AUDIT_SAMPLE_RATE: "0" must be more than 0/,
    );
  });
});

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['24h', 86_400_000],
    ['7d', 604_800_000],
    ['250', 250],
  ])('reads %s as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('rejects text that is not a duration', () => {
    expect(parseDuration('7 days')).toBeUndefined();
    expect(parseDuration('-1s')).toBeUndefined();
  });
});
