import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ManifestFile } from '../cold/layout.ts';
import { utcDay } from '../db/partitions.ts';
import { Sha256Transform } from '../storage/sha256.ts';
import type { ObjectStorage } from '../storage/storage.ts';

/**
 * A cold file in the local cache: reused when present with the manifest's size (it was
 * verified when fetched), else downloaded, hashed on the way and published by rename only when
 * the SHA-256 matches the manifest.
 */
export async function fetchCached(
  storage: ObjectStorage,
  cacheDir: string,
  file: ManifestFile,
): Promise<{ path: string; cached: boolean }> {
  const path = join(cacheDir, file.key);
  const existing = await stat(path).catch(() => undefined);
  if (existing?.size === file.bytes) return { path, cached: true };
  await mkdir(join(path, '..'), { recursive: true });
  const tmp = `${path}.${process.pid}.partial`;
  const hasher = new Sha256Transform();
  try {
    await pipeline(await storage.get(file.key), hasher, createWriteStream(tmp));
    if (hasher.sha256 !== file.sha256) {
      throw new Error(
        `${file.key} fetched with sha256 ${hasher.sha256}, the manifest says ${file.sha256}`,
      );
    }
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
  return { path, cached: false };
}

/** Every UTC day from `from` to `to`, inclusive. */
export function daysBetween(from: string, to: string): string[] {
  const days: string[] = [];
  for (let day = from; day <= to; day = utcDay(new Date(`${day}T00:00:00Z`), 1)) days.push(day);
  return days;
}
