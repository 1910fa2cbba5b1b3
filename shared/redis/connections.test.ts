import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createProducerConnection } from './connections.ts';

describe('a producer connection', () => {
  it('fails a command fast while Redis is unreachable instead of queueing it', async () => {
    // A port nothing listens on: bind one, then close it.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));

    const redis = createProducerConnection(`redis://127.0.0.1:${port}`);
    redis.on('error', () => {});
    try {
      const started = Date.now();
      await expect(redis.set('k', 'v')).rejects.toThrow(
        /Stream isn't writeable|enableOfflineQueue/,
      );
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      redis.disconnect();
    }
  });
});
