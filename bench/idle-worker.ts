// The idle RSS of a real `lowburn worker` process with the full catalog, run the way the
// deployed worker runs (compiled by `npm run build`, the node flags of docker-compose.yml's
// worker service, MALLOC_ARENA_MAX=2) and the way a checkout runs it (`node workers/cli.ts`,
// Node's type stripping).
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';

/** Node's arguments in an `["node", …]` entrypoint, without `node`. */
function nodeArgs(argv: unknown, where: string): string[] {
  if (!Array.isArray(argv) || argv[0] !== 'node') {
    throw new Error(`${where} is not an exec-form ["node", …] entrypoint`);
  }
  return argv.slice(1).map(String);
}

/**
 * Node's arguments as the deployed worker runs, without `node`: docker-compose.yml's worker
 * service `entrypoint` when it sets one (it gives the worker a smaller young generation than
 * the other services), else the Dockerfile's `ENTRYPOINT ["node", …]`.
 */
export function imageNodeArgs(
  dockerfile = readFileSync('Dockerfile', 'utf8'),
  compose = readFileSync('docker-compose.yml', 'utf8'),
): string[] {
  const worker = (parse(compose, { merge: true }) as { services?: Record<string, unknown> })
    .services?.worker as { entrypoint?: unknown } | undefined;
  if (worker?.entrypoint !== undefined) {
    return nodeArgs(worker.entrypoint, "docker-compose.yml's worker entrypoint");
  }
  const line = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1];
  return nodeArgs(line ? JSON.parse(line) : undefined, "the Dockerfile's ENTRYPOINT");
}

/** Compiles the fleet to build/ as the image's build stage does. */
export function buildFleet(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
    stdio: 'inherit',
  });
}

/**
 * Boots `node <nodeArgs> worker` against the given stores, waits for "worker ready" and 3 s
 * more, and returns its RSS (VmRSS) in MB.
 */
export async function idleWorkerRssMb(
  nodeArgs: string[],
  stores: { databaseUrl: string; redisUrl: string },
): Promise<number> {
  const child = spawn(process.execPath, [...nodeArgs, 'worker'], {
    env: {
      PATH: process.env.PATH ?? '',
      // What the image sets: glibc's per-core arenas otherwise add RSS.
      MALLOC_ARENA_MAX: '2',
      DATABASE_URL: stores.databaseUrl,
      REDIS_URL: stores.redisUrl,
      QUEUE_PREFIX: `bench-idle-${randomBytes(3).toString('hex')}`,
      HEALTH_PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk;
      if (out.includes('"worker ready"')) resolve();
    });
    child.once('exit', () => reject(new Error(`idle worker exited early:\n${out}`)));
  });
  await sleep(3_000);
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  return kb / 1024;
}
