import { join } from 'node:path';
import { type Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Page, Response } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../shared/log/logger.ts';
import { OPERATOR, VIEWER } from '../test/fixtures/board.ts';
import { ARTIFACTS_DIR, useBrowser } from '../test/fixtures/browser.ts';
import { testConfig } from '../test/fixtures/config.ts';
import { useRedis } from '../test/fixtures/redis.ts';
import { testJobs } from '../test/fixtures/test-jobs.ts';
import { waitUntil } from '../test/fixtures/wait-until.ts';
import { BOARD_PATH, startBoard } from './board.ts';

const log = createLogger({ level: 'silent' });

describe('the board in a real browser', () => {
  const r = useRedis();
  const chromium = useBrowser();
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function board() {
    const config = testConfig({
      QUEUE_PREFIX: r.prefix,
      BOARD_PASSWORD: OPERATOR[1],
      BOARD_VIEWER_PASSWORD: VIEWER[1],
    });
    const started = await startBoard({ config, catalog: testJobs, log, port: 0 });
    cleanups.push(started.stop);
    return `http://127.0.0.1:${started.port}`;
  }

  /**
   * A fresh browser page that records what the board would rather not see: CSP violations and
   * script errors, and every response of the board that lacks one of its security headers.
   */
  async function newPage(url: string) {
    const context = await chromium.context();
    // Closed first, so the page stops polling the board before the board stops.
    cleanups.push(() => context.close());
    // Hermetic: the board's own origin only (Bull Board's page also asks Google Fonts, which a
    // slow resolver could keep the page's load event waiting on).
    await context.route(
      (target) => !target.href.startsWith(url),
      (route) => route.abort(),
    );
    const page = await context.newPage();
    // Shorter than the test's timeout, so a stuck step fails naming its locator.
    page.setDefaultTimeout(20_000);
    const problems: string[] = [];
    const checked: string[] = [];
    page.on('console', (m) => {
      if (/Content.Security.Policy|Refused to/i.test(m.text()))
        problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('response', (res: Response) => {
      if (!res.url().startsWith(url)) return;
      checked.push(res.url());
      const headers = res.headers();
      const csp = headers['content-security-policy'] ?? '';
      const ok =
        csp.includes("script-src 'self';") &&
        !/script-src[^;]*unsafe-inline/.test(csp) &&
        headers['x-frame-options'] === 'DENY' &&
        headers['x-content-type-options'] === 'nosniff' &&
        headers['referrer-policy'] === 'same-origin';
      if (!ok) problems.push(`headers of ${res.url()}: ${JSON.stringify(headers)}`);
    });
    return { page, problems, checked };
  }

  async function signIn(page: Page, [username, password]: readonly [string, string]) {
    await page.getByLabel('User name').fill(username);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  /** A job of the `echo` queue that failed its one attempt; the worker succeeds on a second run. */
  async function failedJob(): Promise<{ queue: Queue; job: Job; runs: () => number }> {
    const connection = new Redis(r.url, { maxRetriesPerRequest: null });
    const queue = new Queue('echo', { connection, prefix: r.prefix });
    let runs = 0;
    const worker = new Worker(
      'echo',
      async () => {
        runs += 1;
        if (runs === 1) throw new Error('the first run fails');
        return 'the second run succeeds';
      },
      { connection, prefix: r.prefix },
    );
    cleanups.push(async () => {
      await worker.close();
      await queue.close();
      await connection.quit();
    });
    const job = await queue.add('echo', { name: 'retry-me', count: 1 }, { attempts: 1 });
    await waitUntil(async () => (await job.getState()) === 'failed', 10_000, 'the job fails');
    return { queue, job, runs: () => runs };
  }

  it('sends a visitor to the login page and shows no queue', async () => {
    const url = await board();
    const { page, problems, checked } = await newPage(url);
    await page.goto(`${url}${BOARD_PATH}/queue/echo`);
    expect(new URL(page.url()).pathname).toBe('/login');
    expect(new URL(page.url()).searchParams.get('next')).toBe('/queues/queue/echo');
    await page.getByRole('button', { name: 'Sign in' }).waitFor({ state: 'visible' });
    expect(await page.getByRole('link', { name: 'echo', exact: true }).count()).toBe(0);
    expect(checked.length).toBeGreaterThanOrEqual(2);
    expect(problems).toEqual([]);
  });

  it('shows a wrong password an error and counts it against the address', async () => {
    const url = await board();
    const { page, problems } = await newPage(url);
    await page.goto(`${url}/login`);
    await signIn(page, ['admin', 'not-the-password']);
    await page.getByRole('alert').waitFor({ state: 'visible' });
    expect(await page.getByRole('alert').textContent()).toBe('Wrong user name or password.');
    const keys = await r.redis.keys(`${r.prefix}:board:login-fail*`);
    expect(keys).toHaveLength(1);
    expect(await r.redis.get(keys[0] ?? '')).toBe('1');
    expect(problems).toEqual([]);
  });

  it('lets the operator see every queue and retry a failed job by clicking', async () => {
    const url = await board();
    const { job, runs } = await failedJob();
    const { page, problems } = await newPage(url);
    await page.goto(`${url}${BOARD_PATH}`);
    await signIn(page, OPERATOR);
    for (const name of ['echo', 'hang', 'slow', 'tick']) {
      const link = page.getByRole('link', { name, exact: true }).first();
      await link.waitFor({ state: 'visible' });
      expect(await link.getAttribute('href')).toContain(`${BOARD_PATH}/queue/${name}`);
    }
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'board-queues.png'), fullPage: true });
    await page.goto(`${url}${BOARD_PATH}/queue/echo?status=failed`);
    await page.getByText('the first run fails').first().waitFor({ state: 'visible' });
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'board-failed-job.png'), fullPage: true });
    // The job's action icons (Bull Board lists retry first for a failed job); its own dialog
    // names the action the click asked for.
    await jobActions(page).first().click();
    const confirm = page.getByRole('alertdialog');
    await confirm.getByText('Are you sure that you want to retry this job?').waitFor();
    await confirm.getByRole('button', { name: 'Confirm' }).click();
    await waitUntil(
      async () => (await job.getState()) === 'completed',
      15_000,
      'the retried job completes',
      { explain: async () => `state ${await job.getState()}, ${runs()} runs` },
    );
    expect(runs()).toBe(2);
    expect(problems).toEqual([]);
  }, 60_000);

  it('shows the viewer no retry button and refuses the viewer’s retry request', async () => {
    const url = await board();
    const { job } = await failedJob();
    const { page, problems } = await newPage(url);
    await page.goto(`${url}${BOARD_PATH}/queue/echo?status=failed`);
    await signIn(page, VIEWER);
    // Back where the visitor was sent from, query string and all.
    await page.waitForURL(`${url}${BOARD_PATH}/queue/echo?status=failed`);
    await page.getByText('the first run fails').first().waitFor({ state: 'visible' });
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'board-viewer.png'), fullPage: true });
    expect(await jobActions(page).count()).toBe(0);
    expect(await page.getByRole('button', { name: /retry/i }).count()).toBe(0);
    // The request the operator's button sends, with the viewer's session cookie.
    const retry = await page.request.put(`${url}${BOARD_PATH}/api/queues/echo/${job.id}/retry`);
    expect(retry.status()).toBe(403);
    expect(await job.getState()).toBe('failed');
    expect(problems).toEqual([]);
  }, 60_000);
});

/** The action icons of the job cards on a Bull Board queue page. */
function jobActions(page: Page) {
  return page.locator('ul[class^="jobActions"] button');
}
