import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PutBody } from './storage.ts';

/**
 * A pass-through stream that hashes and counts the bytes flowing through it, so a driver can
 * learn an object's SHA-256 while writing it instead of reading the bytes a second time.
 */
export class Sha256Transform extends Transform {
  #hash: Hash = createHash('sha256');
  #bytes = 0;
  #digest: string | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk);
    this.#bytes += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.#digest = this.#hash.digest('hex');
    callback();
  }

  /**
   * Bytes seen so far. Deliberately not called `size`, `length` or `byteLength`: lib-storage's
   * `Upload` reads those to learn a body's total length up front, and would take 0 for it.
   */
  get bytesHashed(): number {
    return this.#bytes;
  }

  /** Hex SHA-256 of every byte; only available once the stream has ended. */
  get sha256(): string {
    if (this.#digest === undefined)
      throw new Error('Sha256Transform: the stream has not ended yet');
    return this.#digest;
  }
}

/**
 * Turns any {@link PutBody} into a {@link Sha256Transform} carrying its bytes. The source is
 * connected with `pipeline`, so a failing source destroys the returned stream with its error (a
 * consumer such as `Upload` then rejects instead of hanging) and destroying the returned stream
 * closes the source (no leaked file handle).
 */
export function hashedBody(body: PutBody): Sha256Transform {
  const hasher = new Sha256Transform();
  pipeline(openBody(body), hasher).catch(() => {
    // The error already reached the hasher (pipeline destroys every stream with it); the consumer
    // of the hasher reports it.
  });
  return hasher;
}

/** Hex SHA-256 of in-memory bytes or a string (hashed as UTF-8, as it is stored). */
export function sha256Of(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Hex SHA-256 of a file, streamed so files larger than memory are fine. */
export async function sha256OfFile(file: string): Promise<string> {
  const hasher = new Sha256Transform();
  await pipeline(createReadStream(file), hasher, async (source) => {
    for await (const _ of source);
  });
  return hasher.sha256;
}

function openBody(body: PutBody): Readable {
  if (typeof body === 'string')
    return Readable.from([Buffer.from(body, 'utf8')], { objectMode: false });
  if (body instanceof Uint8Array) {
    // Readable.from would iterate a plain Uint8Array byte by byte; wrap it as one Buffer chunk.
    const chunk = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    return Readable.from([chunk], { objectMode: false });
  }
  if ('file' in body && typeof body.file === 'string') return createReadStream(body.file);
  return body as Readable;
}
