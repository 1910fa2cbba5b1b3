import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import {
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ChecksumMismatchError } from '../errors/checksum-mismatch-error.ts';
import { InvalidObjectKeyError } from '../errors/invalid-object-key-error.ts';
import { ObjectNotFoundError } from '../errors/object-not-found-error.ts';
import {
  assertValidKey,
  assertValidPrefix,
  assertValidRange,
  compareKeys,
  isValidKey,
  RESERVED_KEY_PREFIX,
} from './object-key.ts';
import { hashedBody } from './sha256.ts';
import type { ObjectInfo, ObjectStorage, PutBody, PutOptions } from './storage.ts';

export interface FileStorageOptions {
  /** Folder holding the objects; created on first put. Keys map to paths below it. */
  root: string;
}

/**
 * What the driver remembers about an object it wrote. `ino`, `size` and `mtimeNs` identify the
 * exact file the hash belongs to: a file replaced by anything else no longer matches, and its
 * sha256 reads as `undefined` rather than as a stale value.
 */
interface Sidecar {
  key: string;
  sha256: string;
  size: number;
  ino: string;
  mtimeNs: string;
  contentType: string | undefined;
}

const META_DIR = `${RESERVED_KEY_PREFIX}meta`;
const TMP_DIR = `${RESERVED_KEY_PREFIX}tmp`;

/**
 * Object storage in a local folder, for development, tests and single-host installs. Objects are
 * plain files at `<root>/<key>` (so DuckDB or a shell can read them directly); hashes live in
 * `<root>/.lowburn-meta/` and in-flight writes in `<root>/.lowburn-tmp/`, both hidden from `list`.
 *
 * Unlike S3, a folder cannot hold both a file `a` and a folder `a/`: putting `a/b` next to an
 * object `a` (or the reverse) throws an {@link InvalidObjectKeyError}.
 */
export class FileStorage implements ObjectStorage {
  readonly kind = 'file' as const;
  readonly root: string;

  constructor(options: FileStorageOptions) {
    this.root = path.resolve(options.root);
  }

  /**
   * Streams the body to a temp file on the same filesystem while hashing it, fsyncs, records the
   * hash, then renames into place; readers see the old object or the whole new one, never a part.
   */
  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<ObjectInfo> {
    const target = this.#pathOf(key);
    const tmpDir = path.join(this.root, TMP_DIR);
    const tmp = path.join(tmpDir, randomUUID());
    await mkdir(tmpDir, { recursive: true });
    let renamed = false;
    try {
      const hasher = hashedBody(body);
      await pipeline(hasher, createWriteStream(tmp, { flags: 'wx', flush: true }));
      const sha256 = hasher.sha256;
      const expected = options.expectedSha256?.toLowerCase();
      if (expected !== undefined && expected !== sha256) {
        throw new ChecksumMismatchError(key, expected, sha256);
      }
      const written = await stat(tmp, { bigint: true });
      await this.#writeSidecar({
        key,
        sha256,
        size: Number(written.size),
        ino: written.ino.toString(),
        mtimeNs: written.mtimeNs.toString(),
        contentType: options.contentType,
      });
      await conflictsAsInvalidKey(key, async () => {
        await mkdir(path.dirname(target), { recursive: true });
        await rename(tmp, target);
      });
      renamed = true;
      await fsyncDir(path.dirname(target));
      return { key, size: Number(written.size), sha256, lastModified: written.mtime };
    } finally {
      if (!renamed) await rm(tmp, { force: true });
    }
  }

  async get(key: string, range?: { start: number; end: number }): Promise<Readable> {
    const target = this.#pathOf(key);
    if (range) assertValidRange(range);
    const handle = await open(target, 'r').catch((error: unknown) => {
      throw isMissing(error) ? new ObjectNotFoundError(key, { cause: error }) : error;
    });
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw new ObjectNotFoundError(key);
      if (!range) return handle.createReadStream();
      if (range.start >= info.size) {
        throw new RangeError(`Range starts at ${range.start} but "${key}" has ${info.size} bytes`);
      }
      // Like S3, an end past the last byte means "to the end".
      return handle.createReadStream({
        start: range.start,
        end: Math.min(range.end, info.size - 1),
      });
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    this.#pathOf(key);
    return this.#info(key);
  }

  /** Walks only the folders that can hold matching keys, sorting each folder as S3 sorts keys. */
  async *list(prefix: string): AsyncGenerator<ObjectInfo> {
    assertValidPrefix(prefix);
    yield* this.#walk(prefix.slice(0, prefix.lastIndexOf('/') + 1), prefix);
  }

  async delete(key: string): Promise<void> {
    const target = this.#pathOf(key);
    // Empty parent folders are left in place: removing them could race a concurrent put into the
    // same folder (its rename would fail with ENOENT), and they cost nothing to `list`.
    await unlink(target).catch((error: unknown) => {
      if (!isMissing(error)) throw error;
    });
    await rm(this.#sidecarPath(key), { force: true });
  }

  /** Nothing to release: every operation opens and closes its own handles. */
  async close(): Promise<void> {}

  async *#walk(folderKey: string, prefix: string): AsyncGenerator<ObjectInfo> {
    let entries: { key: string; isFolder: boolean }[];
    try {
      const dirents = await readdir(this.#pathOfFolder(folderKey), { withFileTypes: true });
      entries = dirents
        .filter((d) => d.isFile() || d.isDirectory())
        .map((d) => ({
          key: `${folderKey}${d.name}${d.isDirectory() ? '/' : ''}`,
          isFolder: d.isDirectory(),
        }))
        .filter((e) => isValidKey(e.isFolder ? e.key.slice(0, -1) : e.key))
        .sort((a, b) => compareKeys(a.key, b.key));
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    for (const entry of entries) {
      if (entry.isFolder) {
        if (entry.key.startsWith(prefix) || prefix.startsWith(entry.key)) {
          yield* this.#walk(entry.key, prefix);
        }
      } else if (entry.key.startsWith(prefix)) {
        // A file deleted since readdir is simply skipped.
        const info = await this.#info(entry.key);
        if (info) yield info;
      }
    }
  }

  async #info(key: string): Promise<ObjectInfo | undefined> {
    const found = await stat(this.#pathOf(key), { bigint: true }).catch((error: unknown) => {
      if (isMissing(error)) return undefined;
      throw error;
    });
    if (!found?.isFile()) return undefined;
    const sidecar = await this.#readSidecar(key);
    const matches =
      sidecar !== undefined &&
      sidecar.ino === found.ino.toString() &&
      sidecar.mtimeNs === found.mtimeNs.toString() &&
      sidecar.size === Number(found.size);
    return {
      key,
      size: Number(found.size),
      sha256: matches ? sidecar.sha256 : undefined,
      lastModified: found.mtime,
    };
  }

  async #writeSidecar(sidecar: Sidecar): Promise<void> {
    const file = this.#sidecarPath(sidecar.key);
    const tmp = path.join(this.root, TMP_DIR, `${randomUUID()}.json`);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(tmp, JSON.stringify(sidecar), { flush: true });
    await rename(tmp, file);
  }

  async #readSidecar(key: string): Promise<Sidecar | undefined> {
    try {
      return JSON.parse(await readFile(this.#sidecarPath(key), 'utf8')) as Sidecar;
    } catch (error) {
      // A missing or half-written sidecar (crash before the rename) only loses the hash.
      if (isMissing(error) || error instanceof SyntaxError) return undefined;
      throw error;
    }
  }

  /**
   * Sidecars are named by a hash of the key, not mirrored as `<key>.json`: mirrored names can
   * collide (the sidecar of `a` would be the folder holding the sidecar of `a.json/b`).
   */
  #sidecarPath(key: string): string {
    const digest = createHash('sha256').update(key).digest('hex');
    return path.join(this.root, META_DIR, digest.slice(0, 2), `${digest}.json`);
  }

  #pathOf(key: string): string {
    assertValidKey(key);
    return this.#inRoot(key, path.join(this.root, ...key.split('/')));
  }

  #pathOfFolder(folderKey: string): string {
    return this.#inRoot(folderKey, path.join(this.root, ...folderKey.split('/')));
  }

  /** Defence in depth: key validation already rules out escaping the root. */
  #inRoot(key: string, resolved: string): string {
    if (resolved !== this.root && !resolved.startsWith(`${this.root}${path.sep}`)) {
      throw new InvalidObjectKeyError(key, 'resolves outside the storage root');
    }
    return resolved;
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}

/** A file where a folder is needed (or the reverse) is a key conflict, not an I/O failure. */
async function conflictsAsInvalidKey(key: string, action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR' || code === 'EISDIR' || code === 'ENOTEMPTY') {
      throw new InvalidObjectKeyError(
        key,
        'conflicts with an existing object: a folder cannot hold both "x" and "x/..."',
      );
    }
    throw error;
  }
}

/** Makes the rename itself durable, not just the file's bytes. */
async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
