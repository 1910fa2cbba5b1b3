import { createServer, type Server } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { ApiError } from '../api/api-error.ts';
import { createApi } from '../api/app.ts';
import { connectApi } from '../api/connect.ts';
import pkg from '../package.json' with { type: 'json' };
import type { Config } from '../shared/config/load-config.ts';
import type { Logger } from '../shared/log/logger.ts';

/**
 * Requests the adapter cannot turn into a Web `Request` (a backslash in the path, a bad Host)
 * never reach the app; they get the API's JSON error shape too.
 */
function adapterError(error: unknown): Response {
  const bad = error instanceof Error && error.name === 'RequestError';
  const body = bad
    ? new ApiError(400, 'invalid_request', `the request target is not valid: ${error.message}`)
    : new ApiError(500, 'internal', 'internal error; it has been logged');
  return Response.json(body.toBody(), { status: bad ? 400 : 500 });
}

/** Serves the API app on Node (`lowburn api`); the same app runs unchanged on serverless. */
export async function startApi(options: {
  config: Config;
  log: Logger;
  port?: number;
  /** The API's clock (tests move it across a budget day's end). @defaultValue Date.now */
  now?: () => number;
}): Promise<{ port: number; server: Server; stop(): Promise<void> }> {
  const { config, log } = options;
  const connection = connectApi(config, log, options.now ? { now: options.now } : {});
  const app = createApi(connection.deps, { version: pkg.version });
  const server = createServer(getRequestListener(app.fetch, { errorHandler: adapterError }));
  const port = await new Promise<number>((resolve) => {
    server.listen(options.port ?? config.api.port, '0.0.0.0', () =>
      resolve((server.address() as { port: number }).port),
    );
  });
  log.info({ port, dbPoolMax: config.database.poolMax }, 'api ready');
  return {
    port,
    server,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive sockets would hold close() open until they time out.
        server.closeIdleConnections();
      });
      await connection.close();
    },
  };
}
