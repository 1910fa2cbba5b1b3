// A Vercel Node.js function serving the lowburn API unchanged: the same `createApi` app the
// `api` container runs, as Web-standard handlers. Copy this folder (with vercel.json) into the
// project you deploy, or deploy this repository with `deploy/vercel` as its root.
// Environment: DATABASE_URL, REDIS_URL and the API_*/RATE_LIMIT_* variables from the README.
import { handle } from 'hono/vercel';
import { createApi } from '../../../api/app.ts';
import { connectApi } from '../../../api/connect.ts';
import { loadConfig } from '../../../shared/config/load-config.ts';
import { createLogger } from '../../../shared/log/logger.ts';

// Once per function instance, reused across invocations: connections survive warm starts.
const config = loadConfig(process.env);
export const connection = connectApi(config, createLogger({ level: config.logLevel, name: 'api' }));
const handler = handle(createApi(connection.deps));

export const GET = handler;
export const POST = handler;
export const PUT = handler;
export const PATCH = handler;
export const DELETE = handler;
