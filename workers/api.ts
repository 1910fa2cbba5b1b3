import { type ServerType, serve } from '@hono/node-server';
import { createApi } from '../api/app.ts';
import { connectApi } from '../api/connect.ts';
import pkg from '../package.json' with { type: 'json' };
import type { Config } from '../shared/config/load-config.ts';
import type { Logger } from '../shared/log/logger.ts';

/** Serves the API app on Node (`lowburn api`); the same app runs unchanged on serverless. */
export async function startApi(options: {
  config: Config;
  log: Logger;
  port?: number;
}): Promise<{ port: number; stop(): Promise<void> }> {
  const { config, log } = options;
  const connection = connectApi(config, log);
  const app = createApi(connection.deps, { version: pkg.version });
  const { server, port } = await new Promise<{ server: ServerType; port: number }>((resolve) => {
    const s = serve(
      { fetch: app.fetch, port: options.port ?? config.api.port, hostname: '0.0.0.0' },
      (info) => resolve({ server: s, port: info.port }),
    );
  });
  log.info({ port }, 'api ready');
  return {
    port,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive sockets would hold close() open until they time out.
        if ('closeIdleConnections' in server) server.closeIdleConnections();
      });
      await connection.close();
    },
  };
}
