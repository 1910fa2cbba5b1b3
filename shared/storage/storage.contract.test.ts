import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type S3TestServer, startS3Server } from '../../test/fixtures/s3-server.ts';
import { ChecksumMismatchError } from '../errors/checksum-mismatch-error.ts';
import { InvalidObjectKeyError } from '../errors/invalid-object-key-error.ts';
import { ObjectNotFoundError } from '../errors/object-not-found-error.ts';
import { FileStorage } from './file-storage.ts';
import { S3Storage, type S3StorageConfig } from './s3-storage.ts';
import type { ObjectInfo, ObjectStorage } from './storage.ts';

const MiB = 1024 * 1024;

interface Harness {
  storage: ObjectStorage;
  cleanup(): Promise<void>;
}

const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');
const readAll = async (stream: Readable) => Buffer.concat(await stream.toArray());
const text = async (stream: Readable) => (await readAll(stream)).toString('utf8');

async function collect(objects: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const object of objects) out.push(object);
  return out;
}

async function keys(storage: ObjectStorage, prefix: string): Promise<string[]> {
  return (await collect(storage.list(prefix))).map((o) => o.key);
}

/** Streams `bytes` in 1 MiB chunks, as an export would, so the driver cannot see the length. */
function chunked(bytes: Buffer): Readable {
  return Readable.from(
    (function* () {
      for (let at = 0; at < bytes.length; at += MiB) yield bytes.subarray(at, at + MiB);
    })(),
  );
}

/**
 * The behaviour every driver must share, so code tested against the file driver behaves the same
 * against S3. `makeStorage` returns a fresh, empty storage for each test; its hooks stay inside
 * the `name` block so driver-specific tests next to it do not pay for them.
 */
function describeStorageContract(name: string, makeStorage: () => Promise<Harness>): void {
  describe(name, () => {
    let harness: Harness;
    let storage: ObjectStorage;
    let scratch: string;

    beforeEach(async () => {
      harness = await makeStorage();
      storage = harness.storage;
      scratch = await mkdtemp(path.join(os.tmpdir(), 'lowburn-scratch-'));
    });
    afterEach(async () => {
      await storage.close();
      await harness.cleanup();
      await rm(scratch, { recursive: true, force: true });
    });

    describe('put and get', () => {
      it('round-trips a string as UTF-8 and reports its size and sha256', async () => {
        const info = await storage.put('notes/hello.txt', 'héllo', { contentType: 'text/plain' });
        expect(info).toMatchObject({ key: 'notes/hello.txt', size: 6, sha256: sha256('héllo') });
        expect(info.lastModified).toBeInstanceOf(Date);
        expect(await text(await storage.get('notes/hello.txt'))).toBe('héllo');
      });

      it('round-trips a Uint8Array view without the bytes around it', async () => {
        const backing = Uint8Array.from([9, 9, 1, 2, 3, 9]);
        const info = await storage.put('bytes.bin', backing.subarray(2, 5));
        expect(info.size).toBe(3);
        expect([...(await readAll(await storage.get('bytes.bin')))]).toEqual([1, 2, 3]);
      });

      it('round-trips a stream', async () => {
        const info = await storage.put('s.txt', Readable.from(['a', 'b', 'c']));
        expect(info).toMatchObject({ size: 3, sha256: sha256('abc') });
        expect(await text(await storage.get('s.txt'))).toBe('abc');
      });

      it('round-trips a file given by path', async () => {
        const file = path.join(scratch, 'part.parquet');
        await writeFile(file, 'PAR1 fake parquet');
        const info = await storage.put('exports/part.parquet', { file });
        expect(info).toMatchObject({ size: 17, sha256: sha256('PAR1 fake parquet') });
        expect(await text(await storage.get('exports/part.parquet'))).toBe('PAR1 fake parquet');
      });

      it('stores an empty object', async () => {
        expect(await storage.put('empty', '')).toMatchObject({ size: 0, sha256: sha256('') });
        expect(await readAll(await storage.get('empty'))).toHaveLength(0);
      });

      it('streams a 20 MiB body and records the size and sha256 of exactly those bytes', async () => {
        const bytes = randomBytes(20 * MiB);
        const info = await storage.put('big/export.bin', chunked(bytes));
        expect(info).toMatchObject({ size: bytes.length, sha256: sha256(bytes) });
        expect(await storage.head('big/export.bin')).toMatchObject({
          size: bytes.length,
          sha256: sha256(bytes),
        });
        expect(sha256(await readAll(await storage.get('big/export.bin')))).toBe(sha256(bytes));
      });

      it('replaces the object when a key is written again', async () => {
        await storage.put('k', 'first version');
        await storage.put('k', 'second');
        expect(await text(await storage.get('k'))).toBe('second');
        expect(await storage.head('k')).toMatchObject({ size: 6, sha256: sha256('second') });
      });

      it('fails the put when the source stream fails, leaving no object', async () => {
        const failing = Readable.from(
          (async function* () {
            yield Buffer.from('partial');
            throw new Error('source broke');
          })(),
        );
        await expect(storage.put('broken', failing)).rejects.toThrow('source broke');
        expect(await storage.head('broken')).toBeUndefined();
      });

      it('fails the put when the source fails after several parts, leaving no object', async () => {
        const failing = Readable.from(
          (async function* () {
            yield* chunked(randomBytes(20 * MiB));
            throw new Error('source broke late');
          })(),
        );
        await expect(storage.put('broken', failing)).rejects.toThrow('source broke late');
        expect(await storage.head('broken')).toBeUndefined();
      });
    });

    describe('when expectedSha256 is given', () => {
      it('stores the object when the bytes match, in any hex case', async () => {
        const info = await storage.put('ok', 'data', {
          expectedSha256: sha256('data').toUpperCase(),
        });
        expect(info.sha256).toBe(sha256('data'));
      });

      it('throws ChecksumMismatchError and leaves no object when the bytes differ', async () => {
        const expected = sha256('other');
        const put = storage.put('bad/one', Readable.from(['data']), { expectedSha256: expected });
        await expect(put).rejects.toThrow(ChecksumMismatchError);
        await expect(put).rejects.toMatchObject({
          key: 'bad/one',
          expected,
          actual: sha256('data'),
        });
        expect(await storage.head('bad/one')).toBeUndefined();
        expect(await keys(storage, '')).toEqual([]);
      });
    });

    describe('head', () => {
      it('returns undefined for a missing key', async () => {
        expect(await storage.head('missing/key')).toBeUndefined();
      });

      it('returns the size, sha256 and modification time recorded at put', async () => {
        const before = Date.now() - 2000; // s3rver and S3 store seconds only
        await storage.put('h', 'xyz');
        const info = await storage.head('h');
        expect(info).toMatchObject({ key: 'h', size: 3, sha256: sha256('xyz') });
        expect(info?.lastModified.getTime()).toBeGreaterThanOrEqual(before);
      });
    });

    describe('get', () => {
      it('throws ObjectNotFoundError carrying the key for a missing key', async () => {
        await expect(storage.get('missing/key')).rejects.toThrow(ObjectNotFoundError);
        await expect(storage.get('missing/key')).rejects.toMatchObject({ key: 'missing/key' });
      });

      it('reads an inclusive byte range', async () => {
        await storage.put('r', '0123456789');
        expect(await text(await storage.get('r', { start: 2, end: 5 }))).toBe('2345');
        expect(await text(await storage.get('r', { start: 9, end: 9 }))).toBe('9');
      });

      it('reads to the end when the range ends past the last byte', async () => {
        await storage.put('r', '0123456789');
        expect(await text(await storage.get('r', { start: 7, end: 100 }))).toBe('789');
      });

      it('rejects a range that starts past the end or runs backwards', async () => {
        await storage.put('r', '0123456789');
        await expect(storage.get('r', { start: 10, end: 12 })).rejects.toThrow(RangeError);
        await expect(storage.get('r', { start: 5, end: 4 })).rejects.toThrow(RangeError);
      });
    });

    describe('list', () => {
      const nested = ['logs/2024/01/a', 'logs/a', 'logs/a-b', 'logs/b-c', 'logs/b/c', 'logs/é'];

      beforeEach(async () => {
        for (const key of [...nested, 'logsx', 'other/logs/a']) await storage.put(key, key);
      });

      it('lists nested keys under a prefix in byte order, without other prefixes', async () => {
        expect(await keys(storage, 'logs/')).toEqual([
          'logs/2024/01/a',
          'logs/a',
          'logs/a-b',
          'logs/b-c',
          'logs/b/c',
          'logs/é',
        ]);
      });

      it('matches a prefix that ends inside a key segment', async () => {
        expect(await keys(storage, 'logs/b')).toEqual(['logs/b-c', 'logs/b/c']);
        expect(await keys(storage, 'logs')).toEqual([...nested, 'logsx']);
      });

      it('lists every object for an empty prefix', async () => {
        expect(await keys(storage, '')).toEqual([...nested, 'logsx', 'other/logs/a']);
      });

      it('yields nothing for a prefix no key starts with', async () => {
        expect(await keys(storage, 'nothing/here/')).toEqual([]);
      });

      it('reports the size and sha256 of each object', async () => {
        const [first] = await collect(storage.list('logs/a-'));
        expect(first).toMatchObject({ key: 'logs/a-b', size: 8, sha256: sha256('logs/a-b') });
      });

      it('pages through many objects without losing or repeating one', async () => {
        const many = Array.from({ length: 25 }, (_, i) => `many/${String(i).padStart(3, '0')}`);
        await Promise.all(many.map((key) => storage.put(key, key)));
        expect(await keys(storage, 'many/')).toEqual(many);
      });
    });

    describe('delete', () => {
      it('removes the object', async () => {
        await storage.put('d/x', 'x');
        await storage.delete('d/x');
        expect(await storage.head('d/x')).toBeUndefined();
        expect(await keys(storage, 'd/')).toEqual([]);
      });

      it('does nothing for a key that does not exist, however often it is called', async () => {
        await storage.put('d/x', 'x');
        await storage.delete('d/x');
        await storage.delete('d/x');
        await storage.delete('never/existed/at/all');
      });
    });

    describe('keys', () => {
      const invalid = [
        '',
        '/abs',
        '../up',
        'a/../../b',
        'a//b',
        'a/',
        'a\\b',
        './a',
        'nul\u0000',
        '.lowburn-meta/x',
      ];

      it.each(invalid)('rejects %j in every operation', async (key) => {
        await expect(storage.put(key, 'x')).rejects.toThrow(InvalidObjectKeyError);
        await expect(storage.get(key)).rejects.toThrow(InvalidObjectKeyError);
        await expect(storage.head(key)).rejects.toThrow(InvalidObjectKeyError);
        await expect(storage.delete(key)).rejects.toThrow(InvalidObjectKeyError);
      });

      it('rejects a list prefix that climbs out of the root', async () => {
        await expect(collect(storage.list('../'))).rejects.toThrow(InvalidObjectKeyError);
      });

      it('accepts dots, spaces and unicode inside segments', async () => {
        const key = 'a/.hidden/..x/ü ber.txt';
        await storage.put(key, Readable.from(['ok']));
        expect(await text(await storage.get(key))).toBe('ok');
        expect(await keys(storage, 'a/')).toEqual([key]);
      });
    });
  });
}

describe('FileStorage', () => {
  describeStorageContract('as object storage', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'lowburn-file-storage-'));
    return {
      storage: new FileStorage({ root }),
      cleanup: () => rm(root, { recursive: true, force: true }),
    };
  });

  describe('on disk', () => {
    let root: string;
    let storage: FileStorage;
    beforeEach(async () => {
      root = await mkdtemp(path.join(os.tmpdir(), 'lowburn-file-storage-'));
      storage = new FileStorage({ root });
    });
    afterEach(async () => {
      await storage.close();
      await rm(root, { recursive: true, force: true });
    });

    it('stores each object as a plain file at its key under the root', async () => {
      await storage.put('exports/2024/part.parquet', 'bytes');
      expect(await readFile(path.join(root, 'exports/2024/part.parquet'), 'utf8')).toBe('bytes');
    });

    it('never lists its metadata or temp files', async () => {
      await storage.put('a', 'a');
      await expect(storage.put('b', 'b', { expectedSha256: sha256('x') })).rejects.toThrow();
      expect((await readdir(root)).sort()).toEqual(['.lowburn-meta', '.lowburn-tmp', 'a']);
      expect(await keys(storage, '')).toEqual(['a']);
      expect(await keys(storage, '.')).toEqual([]);
      expect(await readdir(path.join(root, '.lowburn-tmp'))).toEqual([]);
    });

    it('reports no sha256 for a file something else replaced', async () => {
      await storage.put('a', 'written by lowburn');
      await writeFile(path.join(root, 'a'), 'written by hand');
      expect(await storage.head('a')).toMatchObject({ size: 15, sha256: undefined });
    });

    it('rejects a key that needs a folder where an object is', async () => {
      await storage.put('a', 'file');
      await expect(storage.put('a/b', 'x')).rejects.toThrow(InvalidObjectKeyError);
      await storage.put('c/d', 'file');
      await expect(storage.put('c', 'x')).rejects.toThrow(InvalidObjectKeyError);
      expect(await readdir(path.join(root, '.lowburn-tmp'))).toEqual([]);
    });
  });
});

describe('S3Storage', () => {
  let server: S3TestServer;
  let bucket: string;
  const config = (prefix: string): S3StorageConfig => ({
    driver: 's3',
    bucket,
    prefix,
    endpoint: server.endpoint,
    region: 'us-east-1',
    ...server.credentials,
    forcePathStyle: true,
    checksumMode: 'when_required',
  });

  beforeAll(async () => {
    server = await startS3Server();
  });
  afterAll(async () => {
    await server?.close();
  });

  // A page size of 2 sends every list with more than two objects through pagination.
  describeStorageContract('as object storage', async () => {
    bucket = await server.createBucket();
    return {
      storage: new S3Storage(config('tenant/a'), { listPageSize: 2 }),
      cleanup: async () => {},
    };
  });

  describe('in the bucket', () => {
    let storage: S3Storage;
    let client: S3Client;
    beforeEach(async () => {
      bucket = await server.createBucket();
      storage = new S3Storage(config('/tenant/a/'), { listPageSize: 2 });
      client = new S3Client({
        region: 'us-east-1',
        endpoint: server.endpoint,
        forcePathStyle: true,
        credentials: server.credentials,
      });
    });
    afterEach(async () => {
      await storage.close();
      client.destroy();
    });

    it('writes under the configured prefix with the sha256 as object metadata', async () => {
      await storage.put('k', Readable.from(['streamed']));
      const raw = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'tenant/a/k' }));
      expect(raw.Metadata).toEqual({ sha256: sha256('streamed') });
    });

    it('does not list keys of a sibling prefix that shares its first characters', async () => {
      const sibling = new S3Storage(config('tenant/ab'));
      try {
        await sibling.put('x', 'x');
        await storage.put('y', 'y');
        expect(await keys(storage, '')).toEqual(['y']);
        expect(await keys(sibling, '')).toEqual(['x']);
      } finally {
        await sibling.close();
      }
    });

    it('skips keys it could not address, such as a console folder marker', async () => {
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: 'tenant/a/dir/', ContentLength: 0 }),
      );
      await storage.put('dir/file', 'x');
      expect(await keys(storage, '')).toEqual(['dir/file']);
    });

    it('reports no sha256 for an object whose metadata something else replaced', async () => {
      await storage.put('k', 'v');
      await client.send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: 'tenant/a/k',
          CopySource: `${bucket}/tenant/a/k`,
          MetadataDirective: 'REPLACE',
        }),
      );
      expect(await storage.head('k')).toMatchObject({ size: 1, sha256: undefined });
    });
  });
});
