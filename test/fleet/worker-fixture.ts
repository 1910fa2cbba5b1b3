import { testEnv } from '../fixtures/config.ts';
import { type SpawnedProcess, spawnNode } from '../fixtures/processes.ts';

/** Starts a worker process over the test catalog and waits until it is ready. */
export async function startTestWorker(
  name: string,
  env: Record<string, string>,
): Promise<SpawnedProcess> {
  const worker = spawnNode(
    name,
    'test/fixtures/worker-process.ts',
    [],
    testEnv({ LOG_LEVEL: 'info', ...env }),
  );
  await worker.waitFor('"worker ready"', 20_000);
  return worker;
}

/** SIGTERM, then wait for the exit; SIGKILL if it does not exit in time. */
export async function stopWorker(worker: SpawnedProcess, timeoutMs = 20_000) {
  worker.kill('SIGTERM');
  const timer = setTimeout(() => worker.kill('SIGKILL'), timeoutMs);
  const result = await worker.exited;
  clearTimeout(timer);
  return result;
}
