import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** What a `verify` receiver received: [webhook-id, job id, verified, ms from the event]. */
export type ReceivedWebhook = [string, string, boolean, number];

/**
 * A receiver child (`bench/webhook-receiver.ts`); `maxOpen` is what a hanging one held at most.
 * A `verify` one checks signatures with `secret` and writes what it received to `out`.
 */
export async function startReceiverProcess(
  mode: 'answer' | 'hang' | 'verify' = 'answer',
  verifying: { secret: string; out: string } = { secret: '', out: '/dev/null' },
): Promise<{
  url: string;
  pid?: number;
  readonly maxOpen: number;
  /** A hanging receiver answers from now on, the requests it holds included. */
  recover(): void;
  /** A `verify` receiver's deliveries so far. */
  received(): Promise<ReceivedWebhook[]>;
  stop(): void;
}> {
  const child = spawn(
    process.execPath,
    [path.join(import.meta.dirname, 'webhook-receiver.ts'), mode, verifying.out],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { PATH: process.env.PATH ?? '', WEBHOOK_SECRET: verifying.secret },
    },
  );
  let maxOpen = 0;
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (chunk: Buffer) => resolve(Number(String(chunk).trim())));
    child.once('exit', (code) => reject(new Error(`receiver exited with ${code}`)));
  });
  child.stdout.on('data', (chunk: Buffer) => {
    for (const m of String(chunk).matchAll(/open (\d+)/g))
      maxOpen = Math.max(maxOpen, Number(m[1]));
  });
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    pid: child.pid,
    get maxOpen() {
      return maxOpen;
    },
    recover: () => child.kill('SIGUSR1'),
    received: async () => {
      const written = new Promise<void>((resolve) => {
        const onData = (chunk: Buffer) => {
          if (!String(chunk).includes('written')) return;
          child.stdout.off('data', onData);
          resolve();
        };
        child.stdout.on('data', onData);
      });
      child.kill('SIGUSR2');
      await written;
      return JSON.parse(await readFile(verifying.out, 'utf8')) as ReceivedWebhook[];
    },
    stop: () => child.kill(),
  };
}

/**
 * `lowburn worker` (the queues of WORKER_QUEUES), as deployed, ready to take jobs; or, with
 * `command` 'api', `lowburn api` ready to serve. Needs LOG_LEVEL info or finer for its "ready".
 */
export async function startWorkerProcess(
  env: Record<string, string>,
  command: 'worker' | 'api' = 'worker',
): Promise<{ pid?: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['workers/cli.ts', command], {
    cwd: path.resolve(import.meta.dirname, '..'),
    stdio: ['ignore', 'pipe', 'inherit'],
    // NODE_OPTIONS passes through so the worker can be profiled (`--cpu-prof`) like the bench.
    env: { PATH: process.env.PATH ?? '', NODE_OPTIONS: process.env.NODE_OPTIONS ?? '', ...env },
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk;
      if (output.includes(`"${command} ready"`)) resolve();
      // Only the start is needed; the rest would grow without bound over a long phase.
      if (output.length > 100_000) output = output.slice(-10_000);
    });
    exited.then((code) => reject(new Error(`${command} exited with ${code}:\n${output}`)));
  });
  return {
    pid: child.pid,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Runs `send` `count` times, `concurrency` at a time; returns per second. */
export async function saturated(
  count: number,
  concurrency: number,
  send: () => Promise<unknown>,
): Promise<number> {
  let started = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started++ < count) await send();
    }),
  );
  return count / ((performance.now() - t0) / 1000);
}

/**
 * Starts `send` `perS` times a second, evenly, for `seconds` (or while `seconds()` says so);
 * returns each one's latency (ms), sorted.
 */
export async function paced(
  perS: number,
  seconds: number | (() => boolean),
  send: () => Promise<unknown>,
): Promise<number[]> {
  const latencies: number[] = [];
  const inFlight: Promise<void>[] = [];
  const t0 = performance.now();
  const more =
    typeof seconds === 'function' ? seconds : (i: number) => i < Math.round(perS * seconds);
  for (let i = 0; more(i); i++) {
    const due = t0 + (i * 1000) / perS;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const start = performance.now();
    inFlight.push(send().then(() => void latencies.push(performance.now() - start)));
  }
  await Promise.all(inFlight);
  return latencies.sort((a, b) => a - b);
}
