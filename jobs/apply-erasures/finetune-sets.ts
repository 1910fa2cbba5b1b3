import pkg from '../../package.json' with { type: 'json' };
import {
  type FinetuneSet,
  type FinetuneTombstone,
  finetuneSets,
  manifestName,
  setFileKeys,
  setMayHold,
} from '../../shared/finetune/manifest.ts';
import type { EraseContext } from './context.ts';
import type { ErasedSet } from './erased-set.ts';

export interface FinetuneSetsResult {
  /** Sets removed by this run (their folders). */
  removed: string[];
  /** Sets an erasure removed, this run or before, whose rebuild was asked for. */
  rebuilds: string[];
}

/**
 * The fine-tune sets of an erasure batch. A JSONL line keeps no user, so a set is not edited:
 * every set whose user index may hold a user of the batch (or that has no index) is removed —
 * its manifest replaced by a tombstone saying why and what it was built from, then its files
 * deleted — and a rebuild is asked for, which exports the same request again into the same
 * folder (the erased users are out of every source by then). A crash between the steps leaves a
 * tombstone: the next run finishes the deletion and asks for the rebuild again (`rebuild` must be
 * idempotent per folder and tombstone).
 */
export async function eraseFinetuneSets(
  ctx: Pick<EraseContext, 'storage' | 'log' | 'now' | 'afterStep'>,
  set: ErasedSet,
  rebuild: (prefix: string, tombstone: FinetuneTombstone) => Promise<void>,
): Promise<FinetuneSetsResult> {
  const hashes = set.erasures.map((e) => e.userHash);
  const removed: string[] = [];
  const tombstones: { prefix: string; tombstone: FinetuneTombstone }[] = [];
  for await (const found of finetuneSets(ctx.storage)) {
    let tombstone: FinetuneTombstone;
    if (found.kind === 'erased') {
      tombstone = found.manifest;
    } else {
      const held = hashes.length === 0 ? [] : setMayHold(found.manifest, hashes);
      if (held.length === 0) continue;
      tombstone = tombstoneOf(found, held, ctx.now());
      await ctx.storage.put(`${found.prefix}${manifestName}`, json(tombstone), {
        contentType: 'application/json',
      });
      await ctx.afterStep?.('published', { table: 'finetune', day: found.prefix });
      removed.push(found.prefix);
    }
    for (const key of await setFileKeys(ctx.storage, found.prefix)) await ctx.storage.delete(key);
    tombstones.push({ prefix: found.prefix, tombstone });
  }
  for (const { prefix, tombstone } of tombstones) await rebuild(prefix, tombstone);
  if (removed.length > 0) {
    ctx.log.info({ sets: removed }, 'fine-tune sets holding erased users removed; rebuilds queued');
  }
  return { removed, rebuilds: tombstones.map((t) => t.prefix) };
}

function tombstoneOf(
  found: Extract<FinetuneSet, { kind: 'published' }>,
  userHashes: string[],
  now: Date,
): FinetuneTombstone {
  const { manifest } = found;
  return {
    format: manifest.format,
    lineFormat: manifest.lineFormat,
    source: {
      task: manifest.source.task,
      since: manifest.source.since,
      until: manifest.source.until,
      include: manifest.source.include,
    },
    erased: {
      at: now.toISOString(),
      userHashes,
      written: manifest.counts.written,
      reason: manifest.users
        ? 'its user index may hold users these erasures erased; the set is rebuilt without them'
        : 'it has no user index (written without SECRETS_KEY or before the index existed), so it may hold anyone; the set is rebuilt without the erased users',
    },
    files: [],
    exportedAt: manifest.exportedAt,
    lowburnVersion: pkg.version,
  };
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
