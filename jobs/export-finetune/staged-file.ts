import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';

/** What a staged file holds once ended. */
export interface StagedInfo {
  path: string;
  lines: number;
  bytes: number;
  /** Hex SHA-256 of the bytes, computed while writing. */
  sha256: string;
}

/** Lines are buffered up to this many bytes per write (fewer syscalls, bounded memory). */
const CHUNK = 256 * 1024;

/**
 * A local JSONL file written line by line with backpressure, hashed on the way: the export
 * stages its files here, checks them, and uploads them only when every check passed.
 */
export class StagedFile {
  readonly path: string;
  #out: WriteStream;
  #hash = createHash('sha256');
  #buffer: string[] = [];
  #buffered = 0;
  #lines = 0;
  #bytes = 0;

  constructor(path: string) {
    this.path = path;
    this.#out = createWriteStream(path);
  }

  /**
   * Appends one line (no newline in it; JSON.stringify never writes one). Returns a promise
   * only when the buffer was flushed (await it: the file's backpressure); most lines are
   * buffered without one.
   */
  write(line: string): Promise<void> | undefined {
    this.#buffer.push(line, '\n');
    this.#buffered += line.length + 1;
    this.#lines++;
    return this.#buffered >= CHUNK ? this.#flush() : undefined;
  }

  /** Lines written so far. */
  get lines(): number {
    return this.#lines;
  }

  async #flush(): Promise<void> {
    if (this.#buffer.length === 0) return;
    const bytes = Buffer.from(this.#buffer.join(''), 'utf8');
    this.#buffer = [];
    this.#buffered = 0;
    this.#hash.update(bytes);
    this.#bytes += bytes.length;
    if (!this.#out.write(bytes)) await once(this.#out, 'drain');
  }

  async end(): Promise<StagedInfo> {
    await this.#flush();
    this.#out.end();
    await once(this.#out, 'close');
    return {
      path: this.path,
      lines: this.#lines,
      bytes: this.#bytes,
      sha256: this.#hash.digest('hex'),
    };
  }

  /** Closes the file without waiting (after a failure). */
  destroy(): void {
    this.#out.destroy();
  }
}

/** The lines of a staged file, read back one at a time. */
export async function* readLines(path: string): AsyncGenerator<string> {
  const lines = createInterface({
    input: createReadStream(path, { highWaterMark: CHUNK }),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  for await (const line of lines) if (line !== '') yield line;
}
