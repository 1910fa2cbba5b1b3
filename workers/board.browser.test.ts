import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../shared/log/logger.ts';
import { ARTIFACTS_DIR, useBrowser } from '../test/fixtures/browser.ts';
import { testConfig } from '../test/fixtures/config.ts';
import { useRedis } from '../test/fixtures/redis.ts';
import { testJobs } from '../test/fixtures/test-jobs.ts';
import { BOARD_PATH, startBoard } from './board.ts';

const log = createLogger({ level: 'silent' });

describe('the board in a real browser', () => {
  const r = useRedis();
  const chromium = useBrowser();
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  async function board() {
    const config = testConfig({ QUEUE_PREFIX: r.prefix, BOARD_PASSWORD: 'correct-horse-battery' });
    const started = await startBoard({ config, catalog: testJobs, log, port: 0 });
    stop = started.stop;
    return `http://127.0.0.1:${started.port}`;
  }

  it('refuses a visitor without credentials', async () => {
    const url = await board();
    const page = await (await chromium.context()).newPage();
    // Basic auth's challenge, answered with no credentials: Chromium gives up on the page.
    await expect(page.goto(`${url}${BOARD_PATH}`)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
  });

  it('shows an operator who signs in every queue in the catalog', async () => {
    const url = await board();
    const context = await chromium.context({
      httpCredentials: { username: 'admin', password: 'correct-horse-battery' },
    });
    const page = await context.newPage();
    await page.goto(`${url}${BOARD_PATH}`);
    for (const name of ['echo', 'hang', 'slow', 'tick']) {
      const link = page.getByRole('link', { name, exact: true }).first();
      await link.waitFor({ state: 'visible' });
      expect(await link.getAttribute('href')).toContain(`${BOARD_PATH}/queue/${name}`);
    }
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'board-queues.png'), fullPage: true });
  });
});
