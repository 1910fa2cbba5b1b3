import { readManifest } from '../../shared/cold/layout.ts';
import type { ObjectStorage } from '../../shared/storage/storage.ts';

const MANIFEST = /^cold\/([^/]+)\/dt=(\d{4}-\d{2}-\d{2})\/_manifest\.json$/;

/**
 * Cold storage as of a day: the bytes the manifests of every day up to it name (what is kept,
 * not leftovers awaiting deletion), and the objects written that day (by their last-modified
 * time: the export's parts and manifests). One listing of `cold/` and a manifest read per day
 * and table.
 */
export async function storageUse(
  storage: ObjectStorage,
  day: string,
): Promise<{ bytes: number; writes: number }> {
  const manifests: { table: string; day: string }[] = [];
  let writes = 0;
  for await (const object of storage.list('cold/')) {
    if (object.lastModified.toISOString().slice(0, 10) === day) writes++;
    const match = MANIFEST.exec(object.key);
    if (match && (match[2] ?? '') <= day)
      manifests.push({ table: match[1] ?? '', day: match[2] ?? '' });
  }
  let bytes = 0;
  for (let i = 0; i < manifests.length; i += 16) {
    const read = await Promise.all(
      manifests.slice(i, i + 16).map((m) => readManifest(storage, m.table, m.day)),
    );
    for (const manifest of read) bytes += manifest?.bytes ?? 0;
  }
  return { bytes, writes };
}
