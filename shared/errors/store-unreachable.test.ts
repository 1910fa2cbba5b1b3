import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../test/fixtures/free-port.ts';
import { startOllamaServer } from '../../test/fixtures/model-servers.ts';
import { createDb } from '../db/create-db.ts';
import { askLocal, ModelError } from '../inference/providers.ts';
import { createLogger } from '../log/logger.ts';
import { createProducerConnection } from '../redis/connections.ts';
import { fromStore, isStoreUnreachable } from './store-unreachable.ts';

const log = createLogger({ level: 'silent' });

describe('isStoreUnreachable', () => {
  it('knows a Postgres nobody listens for, through the pool and kysely', async () => {
    const port = await freePort();
    const { db } = createDb({ url: `postgres://postgres@127.0.0.1:${port}/x`, log, poolMax: 1 });
    try {
      const error = await sql`SELECT 1`.execute(db).catch((e: unknown) => e);
      expect((error as { code?: string }).code).toBe('ECONNREFUSED');
      expect(isStoreUnreachable(error)).toBe(true);
    } finally {
      await db.destroy();
    }
  });

  it('knows a Redis nobody listens for (the fail-fast producer connection)', async () => {
    const port = await freePort();
    const redis = createProducerConnection(`redis://127.0.0.1:${port}`, {
      retryStrategy: () => null,
    });
    redis.on('error', () => {});
    try {
      const error = await redis.get('k').catch((e: unknown) => e);
      expect(isStoreUnreachable(error)).toBe(true);
    } finally {
      redis.disconnect();
    }
  });

  it('knows a Redis Cluster nobody answers for, before and after the client gives up', async () => {
    const port = await freePort();
    const target = { url: `redis://127.0.0.1:${port}`, cluster: true };
    const failFast = createProducerConnection(target);
    const gaveUp = createProducerConnection(target, {
      enableOfflineQueue: true,
      retryStrategy: () => null,
    });
    for (const c of [failFast, gaveUp]) c.on('error', () => {});
    try {
      const notReady = await failFast.get('k').catch((e: unknown) => e);
      expect((notReady as Error).message).toMatch(/Cluster isn't ready/);
      expect(isStoreUnreachable(notReady)).toBe(true);
      const none = await gaveUp.get('k').catch((e: unknown) => e);
      expect((none as Error).message).toBe('None of startup nodes is available');
      expect(isStoreUnreachable(none)).toBe(true);
    } finally {
      failFast.disconnect();
      gaveUp.disconnect();
    }
    // What a command that met the failover's MOVED and lost connections too often rejects with
    // (seen in the cluster failover fault run), whatever its last error was.
    const redirected = new Error(
      'Too many Cluster redirections. Last error: ReplyError: MOVED 6876 127.0.0.1:25388',
    );
    expect(isStoreUnreachable(redirected)).toBe(true);
  });

  it('treats Postgres connection-class SQLSTATEs as unreachable', () => {
    expect(isStoreUnreachable(Object.assign(new Error('x'), { code: '08006' }))).toBe(true);
    expect(isStoreUnreachable(Object.assign(new Error('x'), { code: '57P01' }))).toBe(true);
  });

  it('does not take a model server that refuses connections for a store', async () => {
    const port = await freePort();
    const error = await askLocal(
      { url: `http://127.0.0.1:${port}`, model: 'm' },
      { messages: [{ role: 'user', content: 'hi' }], timeoutMs: 2_000 },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelError);
    expect((error as Error).message).toContain('ECONNREFUSED');
    expect(isStoreUnreachable(error)).toBe(false);
    // Nor any error that merely says so, whatever its words.
    expect(isStoreUnreachable(new Error('connect ECONNREFUSED 127.0.0.1:6379'))).toBe(false);
    expect(isStoreUnreachable(new Error('Connection terminated unexpectedly'))).toBe(false);
    expect(
      isStoreUnreachable(fromStore(new Error('Connection terminated unexpectedly'), 'postgres')),
    ).toBe(true);
  });

  it('treats a model server that answers, a bug, or bad data as what they are', async () => {
    const ollama = await startOllamaServer();
    try {
      ollama.script({ path: '/api/chat', status: 500, error: 'model not loaded' });
      const error = await askLocal(
        { url: ollama.url, model: 'm' },
        { messages: [{ role: 'user', content: 'hi' }], timeoutMs: 2_000 },
      ).catch((e: unknown) => e);
      expect(isStoreUnreachable(error)).toBe(false);
    } finally {
      await ollama.close();
    }
    expect(isStoreUnreachable(new RangeError('Maximum call stack size exceeded'))).toBe(false);
    expect(isStoreUnreachable(Object.assign(new Error('dup'), { code: '23505' }))).toBe(false);
    expect(isStoreUnreachable('not an error')).toBe(false);
  });
});
