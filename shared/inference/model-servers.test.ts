import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { testConfig } from '../../test/fixtures/config.ts';
import { freePort } from '../../test/fixtures/free-port.ts';
import {
  type ModelTestServer,
  startOllamaServer,
  startOpenAIServer,
} from '../../test/fixtures/model-servers.ts';
import { waitUntil } from '../../test/fixtures/wait-until.ts';
import { createLogger } from '../log/logger.ts';
import { createModelCalls } from './model-calls.ts';
import { modelServerMetrics } from './model-server-metrics.ts';
import { createModelServers, type ModelServers } from './model-servers.ts';
import { askLocal, embedTexts, ModelError } from './providers.ts';

const log = createLogger({ level: 'silent' });
const MODEL = 'llama3.2:3b';
const chat = (pool: ModelServers, text = 'Summarise: the pool.', timeoutMs = 2_000) =>
  pool.run((url) =>
    askLocal({ url, model: MODEL }, { messages: [{ role: 'user', content: text }], timeoutMs }),
  );
const chatsTo = (server: ModelTestServer) => server.callsTo('/api/chat').length;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Three real Ollama-protocol servers: a healthy one, one that fails, one that is slow. */
describe('several model servers', () => {
  let healthy: ModelTestServer;
  let failing: ModelTestServer;
  let slow: ModelTestServer;
  beforeAll(async () => {
    [healthy, failing, slow] = await Promise.all([
      startOllamaServer(),
      startOllamaServer(),
      startOllamaServer({ latencyMs: 300 }),
    ]);
  });
  afterAll(() => Promise.all([healthy, failing, slow].map((s) => s?.close())));
  beforeEach(() => {
    for (const server of [healthy, failing, slow]) server.reset();
  });
  const pool = (cooldownMs = 60_000) =>
    createModelServers({ urls: [healthy.url, failing.url, slow.url], cooldownMs, log });

  it('sends each request to the server with the fewest in flight, taking turns on ties', async () => {
    const servers = pool();
    // Three at once: one each (all start at zero in flight, so they take turns).
    await Promise.all([chat(servers, 'a'), chat(servers, 'b'), chat(servers, 'c')]);
    expect([chatsTo(healthy), chatsTo(failing), chatsTo(slow)]).toEqual([1, 1, 1]);
    for (const server of [healthy, failing, slow]) server.reset();

    // The slow server holds one request for 3 s: every request meanwhile finds it with one in
    // flight and the other two idle, so they take turns between those two.
    slow.script({ path: '/api/chat', delayMs: 3_000 });
    const held = Promise.all(['x', 'y', 'z'].map((text) => chat(servers, text, 10_000)));
    await waitUntil(async () => chatsTo(slow) === 1, 2_000, 'the held request');
    for (let i = 0; i < 10; i++) await chat(servers, `r${i}`, 10_000);
    expect([chatsTo(healthy), chatsTo(failing), chatsTo(slow)]).toEqual([6, 6, 1]);
    await held;
    expect(servers.stats().map((s) => s.inFlight)).toEqual([0, 0, 0]);
  });

  it('skips a server that fails (5xx) for the cooldown, retrying the request elsewhere', async () => {
    const servers = pool();
    failing.handle((call) => (call.path === '/api/chat' ? { status: 500 } : undefined));
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await chat(servers, `q${i}`));
    expect(answers.every((a) => a.text.length > 0)).toBe(true);
    // The failing server was asked once, failed, and was skipped for every request after.
    expect(chatsTo(failing)).toBe(1);
    expect(chatsTo(healthy) + chatsTo(slow)).toBe(6);
    const stats = servers.stats()[1]!;
    expect(stats).toMatchObject({ up: false, cooldowns: 1 });
    expect(stats.failures['server-error']).toBe(1);
  });

  it('does not count a 4xx the request caused against the server', async () => {
    const servers = createModelServers({ urls: [healthy.url], cooldownMs: 60_000 });
    healthy.script({ path: '/api/chat', status: 400, error: 'bad request' });
    await expect(chat(servers)).rejects.toThrow(/bad request/);
    expect(servers.stats()[0]).toMatchObject({ up: true, cooldowns: 0 });
  });

  it('probes a server after its cooldown before it takes traffic again, and uses it on recovery', async () => {
    // Longer than the slow server's 300 ms, so the requests below stay within it.
    const servers = pool(1_000);
    failing.handle((call) => (call.path === '/api/chat' ? { status: 503 } : undefined));
    for (let i = 0; i < 3; i++) await chat(servers, `q${i}`);
    expect(servers.stats()[1]?.up).toBe(false);
    // Still failing its probe: a probe that answers 5xx keeps it out.
    failing.handle((call) =>
      call.path === '/api/tags' ? { path: '/api/tags', status: 503 } : undefined,
    );
    await sleep(1_050);
    await chat(servers, 'after the first cooldown');
    await waitUntil(async () => failing.callsTo('/api/tags').length === 1, 2_000, 'a probe');
    await sleep(50);
    expect(servers.stats()[1]).toMatchObject({ up: false, cooldowns: 1 });
    expect(chatsTo(failing)).toBe(1);

    // Recovered: after the next cooldown its probe answers and it serves again.
    failing.handle(undefined);
    await sleep(1_050);
    await chat(servers, 'triggers the probe');
    await waitUntil(async () => servers.stats()[1]?.up === true, 2_000, 'back in use');
    expect(failing.callsTo('/api/tags')).toHaveLength(2);
    for (let i = 0; i < 3; i++) await chat(servers, `back ${i}`);
    expect(chatsTo(failing)).toBeGreaterThan(1);
  });

  it('cools a server down that refuses connections or times out; a timeout is not retried', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const refused = createModelServers({ urls: [closed, healthy.url], cooldownMs: 60_000 });
    expect((await chat(refused)).text.length).toBeGreaterThan(0);
    expect(refused.stats()[0]).toMatchObject({ up: false, failures: { unreachable: 1 } });

    healthy.reset();
    const timed = createModelServers({ urls: [slow.url, healthy.url], cooldownMs: 60_000 });
    const error = await chat(timed, 'too slow', 100).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelError);
    expect((error as ModelError).reason).toBe('timeout');
    expect(chatsTo(healthy)).toBe(0);
    expect(timed.stats()[0]).toMatchObject({ up: false, failures: { timeout: 1 } });
    expect((await chat(timed, 'next one', 10_000)).text.length).toBeGreaterThan(0);
    expect(chatsTo(healthy)).toBe(1);
  });

  it('falls back to the paid model when every server is down, without asking them again', async () => {
    const frontier = await startOpenAIServer();
    try {
      const config = testConfig({
        OLLAMA_URL: [healthy.url, failing.url, slow.url].join(','),
        OLLAMA_COOLDOWN: '1m',
        FRONTIER_URL: frontier.baseUrl,
        FRONTIER_API_KEY: frontier.apiKey,
        ROUTE_LOCAL_TASKS: 'summary',
      }).inference;
      const models = createModelCalls(config, log);
      const down = (call: { path: string }) => ({ path: call.path, status: 500 });
      for (const server of [healthy, failing, slow]) server.handle(down);
      const request = {
        taskType: 'summary',
        messages: [{ role: 'user' as const, content: 'Summarise: all down.' }],
      };
      const first = await models.call(request);
      expect(first.answer.route).toBe('frontier');
      expect(first.fallback?.reason).toBe('error');
      expect(chatsTo(healthy) + chatsTo(failing) + chatsTo(slow)).toBe(3);

      // Every server cooling and its probe failing: straight to the fallback.
      const second = await models.call(request);
      expect(second.answer.route).toBe('frontier');
      expect(second.fallback?.message).toMatch(/every model server in OLLAMA_URL is cooling down/);
      expect(chatsTo(healthy) + chatsTo(failing) + chatsTo(slow)).toBe(3);
      expect(frontier.callsTo('/v1/chat/completions')).toHaveLength(2);
    } finally {
      await frontier.close();
    }
  });

  it('sends embeddings by the same rule', async () => {
    const servers = pool();
    failing.handle((call) => (call.path === '/api/embed' ? { status: 500 } : undefined));
    const embed = (text: string) =>
      servers.run((url) => embedTexts({ url, model: 'nomic-embed-text' }, [text]));
    for (let i = 0; i < 4; i++) expect((await embed(`text ${i}`))[0]).toHaveLength(768);
    expect(failing.callsTo('/api/embed')).toHaveLength(1);
    expect(healthy.callsTo('/api/embed').length + slow.callsTo('/api/embed').length).toBe(4);
    expect(servers.stats()[1]?.up).toBe(false);
  });

  it('exposes each server on /metrics: in flight, up, requests, failures, cooldowns', async () => {
    const servers = pool();
    failing.handle((call) => (call.path === '/api/chat' ? { status: 500 } : undefined));
    const registry = new Registry();
    modelServerMetrics(registry, servers);
    // A request held on the first server (the least loaded, first in turn) while we scrape.
    const held = servers.run(() => sleep(2_000));
    for (let i = 0; i < 3; i++) await chat(servers, `m${i}`);
    const text = await registry.metrics();
    await held;
    const label = (s: ModelTestServer) => new URL(s.url).host;
    expect(text).toContain(`lowburn_model_server_up{server="${label(failing)}"} 0`);
    expect(text).toContain(`lowburn_model_server_up{server="${label(healthy)}"} 1`);
    expect(text).toContain(
      `lowburn_model_server_failures_total{server="${label(failing)}",kind="server-error"} 1`,
    );
    expect(text).toContain(`lowburn_model_server_cooldowns_total{server="${label(failing)}"} 1`);
    expect(text).toMatch(
      new RegExp(`lowburn_model_server_in_flight\\{server="${label(healthy)}"\\} 1`),
    );
  });
});
