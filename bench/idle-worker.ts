// The idle RSS of a real `lowburn worker` process with the full catalog, run the way the image
// runs it (the Dockerfile's ENTRYPOINT, compiled by `npm run build`, MALLOC_ARENA_MAX=2) and the
// way a checkout runs it (`node workers/cli.ts`, Node's type stripping).
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Node's arguments in the Dockerfile's `ENTRYPOINT ["node", …]`, without `node`. */
export function imageNodeArgs(dockerfile = readFileSync('Dockerfile', 'utf8')): string[] {
  const line = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1];
  const argv = line ? (JSON.parse(line) as string[]) : [];
  if (argv[0] !== 'node') throw new Error('the Dockerfile has no ENTRYPOINT ["node", …]');
  return argv.slice(1);
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
