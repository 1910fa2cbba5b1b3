import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushTelemetryJob } from '../jobs/flush-telemetry/index.ts';
import { generateJob } from '../jobs/generate/index.ts';
import { ConfigError } from '../shared/errors/config-error.ts';
import { ModelServersError } from '../shared/errors/model-servers-error.ts';
import { checkModelServers } from '../shared/inference/model-servers-check.ts';
import { createLogger } from '../shared/log/logger.ts';
import { testConfig } from '../test/fixtures/config.ts';
import { freePort } from '../test/fixtures/free-port.ts';
import { type ModelTestServer, startOllamaServer } from '../test/fixtures/model-servers.ts';
import { useTestDatabase } from '../test/fixtures/postgres.ts';
import { useRedis } from '../test/fixtures/redis.ts';
import { startWorker } from './worker.ts';

const log = createLogger({ level: 'silent' });
const host = (s: ModelTestServer) => new URL(s.url).host;

describe('the model servers boot check', () => {
  const pg = useTestDatabase();
  const r = useRedis();
  let full: ModelTestServer;
  let twin: ModelTestServer;
  let noEmbed: ModelTestServer;
  let repulled: ModelTestServer;
  beforeAll(async () => {
    [full, twin, noEmbed, repulled] = await Promise.all([
      startOllamaServer(),
      startOllamaServer(),
      startOllamaServer({ models: ['llama3.2:3b'] }),
      startOllamaServer(),
    ]);
    repulled.repull('llama3.2:3b');
  });
  afterAll(() => Promise.all([full, twin, noEmbed, repulled].map((s) => s?.close())));
  const check = (...servers: ModelTestServer[]) =>
    checkModelServers({
      urls: servers.map((s) => s.url),
      localModel: 'llama3.2:3b',
      embedModel: 'nomic-embed-text',
    });

  it('passes servers that serve the same models', async () => {
    expect(await check(full, twin)).toEqual({ mismatches: [], warnings: [] });
  });

  it('names the server that does not serve EMBED_MODEL', async () => {
    const found = await check(full, noEmbed);
    expect(found.mismatches).toEqual([
      expect.stringContaining(
        `model server ${host(noEmbed)} does not serve EMBED_MODEL (nomic-embed-text), which ${host(full)} does`,
      ),
    ]);
  });

  it('names the server whose LOCAL_MODEL has another digest', async () => {
    const found = await check(full, twin, repulled);
    expect(found.mismatches).toEqual([
      expect.stringMatching(
        new RegExp(`model server ${host(repulled)} serves another LOCAL_MODEL \\(llama3.2:3b\\)`),
      ),
    ]);
  });

  it('only warns about a server it cannot read', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const found = await checkModelServers({
      urls: [full.url, closed],
      localModel: 'llama3.2:3b',
      embedModel: 'nomic-embed-text',
    });
    expect(found.mismatches).toEqual([]);
    expect(found.warnings).toEqual([
      expect.stringContaining(`model server ${new URL(closed).host} could not be read`),
    ]);
  });

  it('refuses to boot a worker that runs generate on servers that disagree', async () => {
    const config = testConfig({
      DATABASE_URL: pg.url,
      QUEUE_PREFIX: r.prefix,
      WORKER_QUEUES: 'generate',
      OLLAMA_URL: `${full.url},${noEmbed.url}`,
    });
    const error = await startWorker({ config, catalog: { generate: generateJob }, log }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ModelServersError);
    expect((error as Error).message).toContain(`model server ${host(noEmbed)} does not serve`);
    // A worker that asks no model does not check them.
    const telemetryOnly = await startWorker({
      config: testConfig({
        DATABASE_URL: pg.url,
        QUEUE_PREFIX: r.prefix,
        WORKER_QUEUES: 'flush-telemetry',
        OLLAMA_URL: `${full.url},${noEmbed.url}`,
      }),
      catalog: { 'flush-telemetry': flushTelemetryJob },
      log,
    });
    await telemetryOnly.stop();
  });

  it('OLLAMA_URL takes a list, and a bad entry is named', () => {
    expect(testConfig({ OLLAMA_URL: `${full.url}, ${twin.url}` }).inference.ollamaUrls).toEqual([
      full.url,
      twin.url,
    ]);
    let error: unknown;
    try {
      testConfig({ OLLAMA_URL: `${full.url},ollama-2:11434` });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('entry "ollama-2:11434" must be a URL');
  });
});
