import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../shared/log/logger.ts';
import { testConfig } from '../test/fixtures/config.ts';
import { useRedis } from '../test/fixtures/redis.ts';
import { testJobs } from '../test/fixtures/test-jobs.ts';
import { BOARD_PATH, startBoard } from './board.ts';

const log = createLogger({ level: 'silent' });
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('the board', () => {
  const r = useRedis();
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  async function board(env: Record<string, string>) {
    const config = testConfig({
      QUEUE_PREFIX: r.prefix,
      BOARD_PASSWORD: 'correct-horse-battery',
      ...env,
    });
    const started = await startBoard({ config, catalog: testJobs, log, port: 0 });
    stop = started.stop;
    return `http://127.0.0.1:${started.port}`;
  }

  it('asks for credentials and refuses wrong ones', async () => {
    const url = await board({});
    expect((await fetch(`${url}${BOARD_PATH}`)).status).toBe(401);
    const wrong = await fetch(`${url}${BOARD_PATH}`, {
      headers: { authorization: basic('admin', 'nope') },
    });
    expect(wrong.status).toBe(401);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('lists every queue in the catalog to an operator who signs in', async () => {
    const url = await board({});
    const auth = { authorization: basic('admin', 'correct-horse-battery') };
    const page = await fetch(`${url}${BOARD_PATH}`, { headers: auth });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>lowburn</title>');
    const api = await fetch(`${url}${BOARD_PATH}/api/queues`, { headers: auth });
    const body = (await api.json()) as { queues: { name: string; readOnlyMode: boolean }[] };
    expect(body.queues.map((q) => q.name).sort()).toEqual(['echo', 'hang', 'slow', 'tick']);
    expect(body.queues.every((q) => q.readOnlyMode === false)).toBe(true);
  });

  it('shows queues without controls in read-only mode', async () => {
    const url = await board({ BOARD_READ_ONLY: 'true' });
    const api = await fetch(`${url}${BOARD_PATH}/api/queues`, {
      headers: { authorization: basic('admin', 'correct-horse-battery') },
    });
    const body = (await api.json()) as { queues: { readOnlyMode: boolean }[] };
    expect(body.queues.every((q) => q.readOnlyMode)).toBe(true);
  });
});
