import { afterEach, describe, expect, it } from 'vitest';
import { testEnv } from '../test/fixtures/config.ts';
import { useTestDatabase } from '../test/fixtures/postgres.ts';
import { spawnNode } from '../test/fixtures/processes.ts';
import { OpenResources, startRecordingReceiver } from '../test/fixtures/webhook-servers.ts';
import {
  attempts,
  settled,
  useWebhookWorker,
  webhookKey,
} from '../test/fixtures/webhook-worker.ts';
import { parseSince } from './webhooks-command.ts';

const open = new OpenResources();
afterEach(() => open.closeAll());

describe('lowburn webhooks', () => {
  const database = useTestDatabase();
  const worker = useWebhookWorker(database, {
    WEBHOOK_ALLOW_LIST: '127.0.0.1',
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_RETRY_SCHEDULE: '0s,100ms',
  });

  async function webhooks(...args: string[]) {
    const cli = spawnNode(`lowburn webhooks ${args[0]}`, 'workers/cli.ts', ['webhooks', ...args], {
      ...testEnv({ DATABASE_URL: database.url, QUEUE_PREFIX: worker.prefix }),
    });
    const { code } = await cli.exited;
    return { code, output: cli.output() };
  }

  /** A receiver that fails with 500 until `up` is set. */
  async function flakyReceiver() {
    const state = { up: false };
    const hooks = open.track(
      await startRecordingReceiver((_req, res) => res.writeHead(state.up ? 200 : 500).end()),
    );
    return Object.assign(state, { hooks });
  }

  it('lists a dead letter, replays it by id with the same webhook-id, and it is delivered', async () => {
    const key = await webhookKey(database.db);
    const receiver = await flakyReceiver();
    const enqueued = await worker.enqueue({ apiKeyId: key.id, url: receiver.hooks.url });
    await settled(database.db, enqueued, ['dead']);

    const listed = await webhooks('list', '--status', 'dead', '--json');
    const table = await webhooks('list', '--since', '1h');
    receiver.up = true;
    const replayed = await webhooks('replay', enqueued.id);
    const row = await settled(database.db, enqueued, ['succeeded']);

    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.output)).toEqual([
      expect.objectContaining({
        id: enqueued.id,
        status: 'dead',
        attempts: 2,
        lastStatusCode: 500,
      }),
    ]);
    expect(table.output).toMatch(/^ID\s+STATUS\s+EVENT\s+ATTEMPTS\s+LAST\s+CREATED \(UTC\)/);
    expect(table.output).toMatch(
      new RegExp(`^${enqueued.id}\\s+dead\\s+generation.completed\\s+2\\s+500\\s`, 'm'),
    );
    expect(replayed).toEqual({ code: 0, output: `replayed ${enqueued.id} (was dead), run 1\n` });
    expect(row).toMatchObject({ attempts: 3, run: 1, last_status_code: 200 });
    expect((await attempts(database.db, enqueued.id)).map((a) => a.status_code)).toEqual([
      500, 500, 200,
    ]);
    expect(new Set(receiver.hooks.requests.map((r) => r.headers['webhook-id']))).toEqual(
      new Set([enqueued.id]),
    );
  });

  it('replays every dead letter since a time, and only those', async () => {
    const key = await webhookKey(database.db);
    const receiver = await flakyReceiver();
    const since = new Date(Date.now() - 1_000).toISOString();
    const dead = await Promise.all(
      [1, 2].map(() => worker.enqueue({ apiKeyId: key.id, url: receiver.hooks.url })),
    );
    for (const d of dead) await settled(database.db, d, ['dead']);
    receiver.up = true;
    const delivered = await worker.enqueue({ apiKeyId: key.id, url: receiver.hooks.url });
    await settled(database.db, delivered, ['succeeded']);

    const replayed = await webhooks('replay', '--since', since, '--status', 'dead');

    expect(replayed.code).toBe(0);
    expect(replayed.output).toMatch(/replayed 2 deliveries\n$/);
    for (const d of dead) {
      expect(await settled(database.db, d, ['succeeded'])).toMatchObject({ attempts: 3 });
    }
    expect(await settled(database.db, delivered)).toMatchObject({ attempts: 1, run: 0 });
  });

  it('says so when no delivery has that id, and refuses a replay without a target', async () => {
    expect(await webhooks('replay', 'msg_00000000000000000000000000000000')).toEqual({
      code: 1,
      output: 'lowburn: no webhook delivery "msg_00000000000000000000000000000000"\n',
    });
    expect(await webhooks('replay')).toEqual({
      code: 2,
      output: 'lowburn: give a delivery id, or --since <time> [--status dead] to replay many\n',
    });
  });
});

describe('--since', () => {
  const now = Date.parse('2026-05-10T12:00:00Z');

  it('reads an ISO time or a duration ago', () => {
    expect(parseSince('2026-05-01', now).toISOString()).toBe('2026-05-01T00:00:00.000Z');
    expect(parseSince('2026-05-10T11:30:00Z', now).toISOString()).toBe('2026-05-10T11:30:00.000Z');
    expect(parseSince('90m', now).toISOString()).toBe('2026-05-10T10:30:00.000Z');
    expect(parseSince('7d', now).toISOString()).toBe('2026-05-03T12:00:00.000Z');
  });

  it('refuses anything else', () => {
    for (const text of ['yesterday', '1200', 'may 1']) {
      expect(() => parseSince(text, now), text).toThrow(/is not a time/);
    }
  });
});
