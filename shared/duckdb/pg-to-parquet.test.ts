import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openPipeWriter } from './pg-to-parquet.ts';

describe('the pipe into DuckDB', () => {
  it('keeps a broken pipe (EPIPE while no write waits) for the next write instead of crashing', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lowburn-pipe-'));
    const fifo = path.join(dir, 'in.fifo');
    execFileSync('mkfifo', [fifo]);
    // The reader DuckDB would be: it opens the pipe and never reads.
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = await openPipeWriter(fifo, new Promise(() => {}));
    try {
      // Fill the kernel's pipe buffer until a write is left queued in libuv, as when Postgres
      // sends faster than DuckDB reads.
      for (let i = 0; i < 1_000 && writer.writableLength === 0; i++) {
        writer.write(Buffer.alloc(8_192));
      }
      expect(writer.writableLength).toBeGreaterThan(0);
      // DuckDB's COPY fails (a full disk) and it closes the pipe; nobody awaits the writer.
      closeSync(reader);
      await expect
        .poll(() => (writer.errored as NodeJS.ErrnoException | null)?.code, { timeout: 2_000 })
        .toBe('EPIPE');
    } finally {
      writer.destroy();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
