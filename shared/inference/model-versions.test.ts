import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ModelTestServer, startOllamaServer } from '../../test/fixtures/model-servers.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { createLogger } from '../log/logger.ts';
import { createModelDigest, DIGEST_REFRESH_MS } from './model-digest.ts';
import { latestModelVersion, recordModelVersion } from './model-versions.ts';

const log = createLogger({ level: 'silent' });

describe('the model versions ledger', () => {
  const database = useTestDatabase();
  let ollama: ModelTestServer;
  beforeAll(async () => {
    ollama = await startOllamaServer();
  });
  afterAll(() => ollama.close());

  const rows = () => database.db.selectFrom('model_versions').selectAll().orderBy('id').execute();

  it('records a version once however many workers see it, with the one before it', async () => {
    const v1 = { localModel: 'llama3.2:3b', version: '1', digest: 'a'.repeat(64) };
    const first = await Promise.all(
      Array.from({ length: 12 }, () => recordModelVersion(database.db, v1)),
    );
    expect(first.filter(Boolean)).toHaveLength(1);

    const v2 = { localModel: 'support-ft', version: '1', digest: 'b'.repeat(64) };
    const second = await Promise.all(
      Array.from({ length: 12 }, () => recordModelVersion(database.db, v2)),
    );
    expect(second.filter(Boolean)).toHaveLength(1);
    expect(await recordModelVersion(database.db, v1)).toBe(false);

    expect(await rows()).toEqual([
      expect.objectContaining({
        local_model: 'llama3.2:3b',
        digest: v1.digest,
        previous_model: null,
        previous_digest: null,
      }),
      expect.objectContaining({
        local_model: 'support-ft',
        model_version: '1',
        digest: v2.digest,
        previous_model: 'llama3.2:3b',
        previous_version: '1',
        previous_digest: v1.digest,
      }),
    ]);
    expect(await latestModelVersion(database.db)).toMatchObject({ local_model: 'support-ft' });
  });

  it('is told by the digest reader when the model is pulled again', async () => {
    let t = 1_000_000;
    const seen: (string | undefined)[] = [];
    const digest = createModelDigest({
      url: ollama.url,
      model: 'llama3.2:3b',
      log,
      now: () => t,
      onChange: (d) => seen.push(d),
    });
    const first = await digest.get();
    t += DIGEST_REFRESH_MS;
    await digest.get();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(seen).toEqual([first]);

    ollama.repull('llama3.2:3b');
    t += DIGEST_REFRESH_MS;
    await digest.get();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(seen).toHaveLength(2);
    expect(seen[1]).toMatch(/^[0-9a-f]{64}$/);
    expect(seen[1]).not.toBe(first);
  });
});
