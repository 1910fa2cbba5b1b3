import { afterAll, beforeAll } from 'vitest';
import { leftoverProcesses } from './fixtures/processes.ts';

// Handles that mean "a worker, connection, server or child process is still open".
const WATCHED = new Set(['TCPSocketWrap', 'TCPServerWrap', 'ProcessWrap', 'TCPWrap']);

function openHandles(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) {
    if (WATCHED.has(kind)) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return counts;
}

let baseline = new Map<string, number>();

beforeAll(() => {
  baseline = openHandles();
});

// Registered first, so with vitest's stacked hooks it runs after the file's own afterAll hooks.
afterAll(async () => {
  const processes = leftoverProcesses();
  if (processes.length > 0) {
    for (const p of processes) p.kill('SIGKILL');
    throw new Error(
      `test file left ${processes.length} child process(es) running: ${processes.map((p) => p.name).join(', ')}`,
    );
  }
  const deadline = Date.now() + 3_000;
  let leaked: string[] = [];
  do {
    const now = openHandles();
    leaked = [...now]
      .filter(([kind, n]) => n > (baseline.get(kind) ?? 0))
      .map(([kind, n]) => `${kind} ×${n - (baseline.get(kind) ?? 0)}`);
    if (leaked.length === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  } while (Date.now() < deadline);
  throw new Error(
    `test file left open handles (a worker, connection or server not closed): ${leaked.join(', ')}`,
  );
});
