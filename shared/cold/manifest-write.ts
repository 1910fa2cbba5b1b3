import pkg from '../../package.json' with { type: 'json' };
import type { ObjectStorage } from '../storage/storage.ts';
import { coldLayout, type Manifest, type ManifestErasure, type ManifestFile } from './layout.ts';

/** What a day's manifest is built from: its `export_runs` row. */
export interface ManifestSource {
  table: string;
  day: string;
  files: ManifestFile[];
  columns: Manifest['columns'];
  exportedAt: Date;
  erasures: ManifestErasure[];
}

/**
 * Writes (or replaces, atomically) a day's `_manifest.json` from its `export_runs` row: the
 * export and `apply-erasures` both publish a day's file set through here, so neither drops what
 * the other recorded.
 */
export async function writeManifest(
  storage: ObjectStorage,
  source: ManifestSource,
  now: Date,
): Promise<Manifest> {
  const manifest: Manifest = {
    format: 'lowburn.cold.v1',
    table: source.table,
    day: source.day,
    rows: source.files.reduce((n, f) => n + f.rows, 0),
    bytes: source.files.reduce((n, f) => n + f.bytes, 0),
    files: source.files,
    columns: source.columns,
    exportedAt: source.exportedAt.toISOString(),
    updatedAt: now.toISOString(),
    lowburnVersion: pkg.version,
    ...(source.erasures.length > 0 && { erasures: source.erasures }),
  };
  await storage.put(
    coldLayout.manifestKey(source.table, source.day),
    `${JSON.stringify(manifest, null, 2)}\n`,
    { contentType: 'application/json' },
  );
  return manifest;
}
